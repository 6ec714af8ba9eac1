"""The prefect-email block that the monitor's alerts go through (saved by `make up`).

With no HEART_SMTP_SERVER it points at the local mail sink; otherwise at that server, with
HEART_SMTP_USERNAME and HEART_SMTP_PASSWORD read from the environment and kept in the block
(Prefect stores the password as a secret), never in a file of this repository.
"""

from prefect_email import EmailServerCredentials

from heart_batch.settings import Settings, quiet_tools


def email_credentials(settings: Settings) -> EmailServerCredentials:
    """Credentials for the configured SMTP server, or for the local mail sink."""
    if not settings.smtp_server:
        return EmailServerCredentials(
            smtp_server="127.0.0.1", smtp_port=settings.mail_port, smtp_type="INSECURE"
        )
    return EmailServerCredentials(
        smtp_server=settings.smtp_server,
        smtp_port=settings.smtp_port,
        smtp_type=settings.smtp_type,
        username=settings.smtp_username or None,
        password=settings.smtp_password,
    )


def save_email_block(settings: Settings) -> None:
    """Create or replace the block named HEART_EMAIL_BLOCK."""
    email_credentials(settings).save(settings.email_block, overwrite=True)


if __name__ == "__main__":
    quiet_tools()
    save_email_block(Settings())
