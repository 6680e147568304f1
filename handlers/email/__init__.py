"""The e-mail channel: the mail parser, the IMAP loop that takes mail in, the SMTP sender."""
