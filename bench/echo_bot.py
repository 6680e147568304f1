"""A bare aiogram echo bot: the framework's ceiling for the intake benchmark (not part of the product).

    TELEGRAM_API_URL=http://127.0.0.1:PORT BOT_TOKEN=… python bench/echo_bot.py
"""

import asyncio
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def main() -> None:
    bot = Bot(os.environ["BOT_TOKEN"],
              session=AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"])))
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.reply(message.text or "…")

    await dp.start_polling(bot, polling_timeout=25)


if __name__ == "__main__":
    asyncio.run(main())
