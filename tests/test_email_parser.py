"""The mail parser on real-world shapes: plain and HTML bodies, quoted history, signatures, Russian charsets,
attachments, oversize mail, threading headers and the key in the subject."""

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.email.parser import (
    TEXT_LIMIT,
    clean_subject,
    fresh_text,
    html_to_text,
    key_in_subject,
    parse_mail,
)


def mail(body: str = "Сервер не отвечает", subject: str = "Сервер недоступен", sender: str = "Иван <Ivan@Acme.ru>",
         **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Support <support@vendor.example>"
    msg["Subject"] = subject
    msg["Message-ID"] = "<m1@acme.ru>"
    msg["Date"] = "Mon, 02 Mar 2026 12:30:00 +0300"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def test_plain_mail():
    parsed = parse_mail(bytes(mail()))
    assert parsed.sender == "ivan@acme.ru" and parsed.sender_name == "Иван" and parsed.reply_to == "ivan@acme.ru"
    assert parsed.subject == "Сервер недоступен" and parsed.key is None and parsed.title == "Сервер недоступен"
    assert parsed.text == "Сервер не отвечает" and parsed.fresh == "Сервер не отвечает"
    assert parsed.message_id == "<m1@acme.ru>" and parsed.in_reply_to is None and parsed.references == ()
    assert parsed.sent_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert parsed.recipients == ("support@vendor.example",) and parsed.attachments == ()
    assert not parsed.oversize and parsed.size == len(bytes(mail()))


def test_threading_headers_and_key():
    parsed = parse_mail(bytes(mail(subject="RE: Fwd: [acme-12] Сервер недоступен", In_Reply_To="<d2@vendor.example>",
                                   References="<m0@acme.ru> <d1@vendor.example>\t<d2@vendor.example>",
                                   Reply_To="helpdesk@acme.ru")))
    assert parsed.key == "ACME-12" and parsed.title == "Сервер недоступен"
    assert parsed.in_reply_to == "<d2@vendor.example>"
    assert parsed.references == ("<m0@acme.ru>", "<d1@vendor.example>", "<d2@vendor.example>")
    assert parsed.thread_ids == ("<d2@vendor.example>", "<d1@vendor.example>", "<m0@acme.ru>")
    assert parsed.reply_to == "helpdesk@acme.ru"


@pytest.mark.parametrize(("subject", "key", "clean"), [
    ("[ACME-12] down", "ACME-12", "down"),
    ("Re: [ACME-12] down", "ACME-12", "down"),
    ("Отв: Re[2]: [ACME_2-7] упал сервер", "ACME_2-7", "упал сервер"),
    ("ACME-12 without brackets", None, "ACME-12 without brackets"),
    ("[ACME] no number", None, "[ACME] no number"),
    ("FW: AW: SV: report", None, "report"),
    ("Refund: question", None, "Refund: question"),
])
def test_subject(subject, key, clean):
    assert key_in_subject(subject) == key
    assert clean_subject(subject) == clean


def test_no_message_id_gets_a_stable_one():
    msg = mail()
    del msg["Message-ID"]
    first, again = parse_mail(bytes(msg)), parse_mail(bytes(msg))
    assert first.message_id == again.message_id and first.message_id.endswith("@no-message-id.invalid>")
    msg.replace_header("Subject", "other")
    assert parse_mail(bytes(msg)).message_id != first.message_id


def test_html_only_body_becomes_readable_text():
    msg = mail()
    msg.set_content("""<html><head><style>p {color: red}</style><title>x</title></head><body>
        <p>Добрый день!</p><p>После обновления   не открывается
        <b>консоль</b>&nbsp;администратора.</p>
        <ul><li>версия 5.2</li><li>сервер &laquo;cts-1&raquo;</li></ul>
        <div>Журнал: <a href="https://files.acme.ru/log.txt">скачать</a><br>Иван</div>
        <script>alert(1)</script>
        <div class="gmail_quote">пн, 2 мар. в 10:00, Support пишет:<blockquote>Старый текст</blockquote></div>
        </body></html>""", subtype="html")
    parsed = parse_mail(bytes(msg))
    assert parsed.text == ("Добрый день!\n\nПосле обновления не открывается консоль администратора.\n\n"
                           "- версия 5.2\n- сервер «cts-1»\n\nЖурнал: скачать (https://files.acme.ru/log.txt)\n"
                           "Иван\n> пн, 2 мар. в 10:00, Support пишет:\n> > Старый текст")
    assert "Старый текст" not in parsed.fresh and "alert" not in parsed.text and "color" not in parsed.text
    assert parsed.fresh.startswith("Добрый день!") and parsed.fresh.endswith("Иван")


def test_plain_text_is_preferred_to_html():
    msg = mail("plain version")
    msg.add_alternative("<p>html version</p>", subtype="html")
    parsed = parse_mail(bytes(msg))
    assert parsed.text == "plain version" and parsed.attachments == ()


@pytest.mark.parametrize("charset", ["koi8-r", "windows-1251", "utf-8"])
def test_russian_charsets(charset):
    text = "Не работает выгрузка отчётов, ошибка 500"
    msg = mail(subject="Ошибка выгрузки")
    msg.set_content(text.encode(charset), maintype="text", subtype="plain", params={"charset": charset},
                    cte="8bit" if charset != "utf-8" else "base64")
    msg.replace_header("Content-Type", f'text/plain; charset="{charset}"')
    parsed = parse_mail(bytes(msg))
    assert parsed.text == text and parsed.title == "Ошибка выгрузки"


def test_koi8r_encoded_words_and_raw_8bit_headers():
    raw = ("From: =?koi8-r?B?" + __import__("base64").b64encode("Пётр".encode("koi8-r")).decode()
           + "?= <petr@acme.ru>\r\nSubject: ").encode() + "Авария на сервере".encode("windows-1251") + (
        b"\r\nMessage-ID: <k@acme.ru>\r\nContent-Type: text/plain; charset=windows-1251\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n") + "Всё упало".encode("windows-1251")
    parsed = parse_mail(raw)
    assert parsed.sender_name == "Пётр" and parsed.subject == "Авария на сервере" and parsed.text == "Всё упало"


def test_unknown_charset_does_not_break_the_mail():
    raw = (b"From: a@acme.ru\r\nSubject: x\r\nMessage-ID: <u@acme.ru>\r\n"
           b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nhello \xff world")
    parsed = parse_mail(raw)
    assert parsed.text == "hello \ufffd world"


@pytest.mark.parametrize(("body", "fresh"), [
    ("Сервер упал.\n\nOn Mon, 2 Mar 2026 at 10:00, Support <support@vendor.example> wrote:\n> Ваш запрос ACME-1",
     "Сервер упал."),
    ("Всё ещё не работает\n\n2 марта 2026 г., в 10:00, Support написал(а):\n> старое", "Всё ещё не работает"),
    ("Ответ\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nSubject: old", "Ответ"),
    ("Ответ\n\n-------- Исходное сообщение --------\nстарое", "Ответ"),
    ("Ответ\n________________________________\nОт: Support\nОтправлено: 2 марта", "Ответ"),
    ("Ответ\n\nFrom: Support <support@vendor.example>\nSent: Monday, March 2\nTo: Ivan\nSubject: old", "Ответ"),
    ("Проблема с входом\n\n-- \nИван Петров\nACME, +7 495 000-00-00", "Проблема с входом"),
    ("Проблема с входом\n\nС уважением,\nИван Петров\nACME", "Проблема с входом"),
    ("Problem with login\n\nBest regards,\nIvan", "Problem with login"),
    ("Проблема\n\nSent from my iPhone", "Проблема"),
    ("Проблема\n\nОтправлено из мобильной Почты Mail.ru", "Проблема"),
    ("> процитировано\nответ между строк\n> ещё цитата", "ответ между строк"),
    ("From now on the backup fails every night.\nPlease check.", "From now on the backup fails every night.\nPlease check."),
])
def test_quoted_history_and_signature_are_not_fresh(body, fresh):
    assert fresh_text(body) == fresh


def test_a_sign_off_far_from_the_end_is_kept():
    body = "Regards\n" + "\n".join(f"line {i}" for i in range(10))
    assert fresh_text(body) == body


def test_quoted_history_stays_out_of_the_title_when_there_is_no_subject():
    parsed = parse_mail(bytes(mail("\n\nНе приходят уведомления\n\nOn Mon, Support wrote:\n> Re: old title",
                                   subject="Re: ")))
    assert parsed.title == "Не приходят уведомления"
    assert "old title" in parsed.text  # nothing the customer sent is lost


def test_attachments_are_metadata():
    msg = mail("Логи во вложении")
    msg.add_attachment(b"x" * 3000, maintype="application", subtype="zip", filename="logs.zip")
    msg.add_attachment("журнал".encode("koi8-r"), maintype="text", subtype="plain", filename="журнал.txt")
    msg.add_attachment(b"\x89PNG....", maintype="image", subtype="png", filename="screen.png")
    parsed = parse_mail(bytes(msg))
    assert parsed.text == "Логи во вложении"
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("logs.zip", "application/zip", 3000), ("журнал.txt", "text/plain", 6), ("screen.png", "image/png", 8)]


def test_attachment_only_mail():
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "a@acme.ru", "", "<a@acme.ru>"
    msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="scan.pdf")
    parsed = parse_mail(bytes(msg))
    assert parsed.text == "" and parsed.title == "" and [a.filename for a in parsed.attachments] == ["scan.pdf"]


def test_long_text_is_capped():
    parsed = parse_mail(bytes(mail("x" * (TEXT_LIMIT + 500))))
    assert len(parsed.text) == TEXT_LIMIT


def test_oversize_mail_keeps_its_headers():
    msg = mail("big")
    head = bytes(msg).split(b"\n\n", 1)[0] + b"\n\n"
    parsed = parse_mail(head, size=40_000_000, max_size=25 * 1024 * 1024)
    assert parsed.oversize and parsed.size == 40_000_000
    assert parsed.subject == "Сервер недоступен" and parsed.message_id == "<m1@acme.ru>" and parsed.text == ""


def test_loop_facts_are_read():
    parsed = parse_mail(bytes(mail(Auto_Submitted="auto-replied", Precedence="bulk", List_Id="<x.acme.ru>",
                                   X_Autoreply="yes", Return_Path="<>")))
    facts = parsed.facts
    assert facts.sender == "ivan@acme.ru" and facts.auto_submitted == "auto-replied" and facts.precedence == "bulk"
    assert facts.mailing_list and facts.autoreply_header and facts.null_return_path and not facts.delivery_report
    plain = parse_mail(bytes(mail())).facts
    assert not (plain.auto_submitted or plain.precedence or plain.mailing_list or plain.autoreply_header
                or plain.null_return_path)


def test_delivery_report_is_seen():
    raw = (b"From: MAILER-DAEMON@mx.acme.ru\r\nSubject: Undelivered\r\nMessage-ID: <b@mx>\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--XX--\r\n")
    parsed = parse_mail(raw)
    assert parsed.facts.delivery_report and parsed.sender == "mailer-daemon@mx.acme.ru"


def test_html_helper_handles_broken_markup():
    assert html_to_text("<div><p>one<p>two</div><blockquote>q<div>deep</blockquote>after") == (
        "one\ntwo\n> q\n> deep\n\nafter")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_parse_without_raising(raw):
    parsed = parse_mail(raw)
    assert parsed.message_id.startswith("<") and isinstance(parsed.text, str)


HEADERS = st.sampled_from(["From", "Subject", "Message-ID", "In-Reply-To", "References", "Date", "Content-Type",
                           "Content-Transfer-Encoding", "Auto-Submitted", "Reply-To", "To"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(HEADERS, st.text(max_size=60)), max_size=8), st.text(max_size=300))
def test_garbled_headers_parse_without_raising(headers, body):
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8", "surrogatepass")
    parsed = parse_mail(raw + b"\r\n" + body.encode("utf-8", "surrogatepass"))
    assert isinstance(parsed.title, str) and isinstance(parsed.fresh, str)


def test_overlong_message_ids_are_hashed_alike_everywhere():
    long_id = "<" + "x" * 300 + "@acme.ru>"
    opening = mail()
    opening.replace_header("Message-ID", long_id)
    first = parse_mail(bytes(opening))
    answer = parse_mail(bytes(mail(In_Reply_To=long_id, References=f"<a@acme.ru> {long_id}")))
    assert len(first.message_id) <= 255 and first.message_id.endswith("@long-message-id.invalid>")
    assert answer.in_reply_to == first.message_id and answer.references[-1] == first.message_id
