"""eXpress (BotX API) as a customer channel, through the vendor's `pybotx`.

`server` takes what a CTS server sends (commands, status requests, the asynchronous results of sent
messages) on the bot's aiohttp server and hands the messages to the chat-room layer (`handlers.chatroom`);
`channel` sends what the outbox owes an eXpress chat. pybotx is imported only when eXpress is configured:
nothing outside this package imports it, and the composition root imports this package only then.
"""
