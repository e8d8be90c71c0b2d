//! SMTP delivery with pooled connections: `smtp://host:port` (plain, for a relay on the same
//! machine), `smtp://host:port?tls=required` (STARTTLS), `smtps://user:pass@host:port` (implicit
//! TLS), with authentication from the URL. Failures are sorted into those worth retrying (4xx,
//! timeouts, connections refused or dropped) and those that are not (5xx).

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    transport::smtp::{PoolConfig, authentication::Credentials},
};

/// Settings of the SMTP connection.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtp://`, `smtp://...?tls=required` or `smtps://` URL, credentials included.
    pub url: String,
    /// Connections kept open at most.
    pub pool_size: u32,
    /// Time allowed per SMTP command.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    /// Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `smtps://user:secret@host` -> `smtps://user:***@host`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: a 4xx reply, a timeout, a refused or dropped connection.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Not worth retrying: a 5xx reply (unknown mailbox, refused content).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A pooled SMTP client.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// A client for `settings.url`. Connections are opened lazily.
    pub fn new(settings: &SmtpSettings) -> Result<SmtpMailer, String> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| format!("invalid SMTP URL {}: {e}", redact_url(&settings.url)))?;
        let transport = builder
            .pool_config(PoolConfig::new().max_size(settings.pool_size.max(1)).idle_timeout(Duration::from_secs(60)))
            .timeout(Some(settings.timeout))
            .build();
        Ok(SmtpMailer { transport })
    }

    /// A client with explicit credentials (overriding any in the URL).
    pub fn with_credentials(settings: &SmtpSettings, user: &str, password: &str) -> Result<SmtpMailer, String> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| format!("invalid SMTP URL {}: {e}", redact_url(&settings.url)))?;
        let transport = builder
            .credentials(Credentials::new(user.to_owned(), password.to_owned()))
            .pool_config(PoolConfig::new().max_size(settings.pool_size.max(1)))
            .timeout(Some(settings.timeout))
            .build();
        Ok(SmtpMailer { transport })
    }

    /// Sends one message.
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => Err(SendError::Permanent(err.to_string())),
            Err(err) => Err(SendError::Transient(err.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact_url("smtps://me:secret@mail.example.org:465"), "smtps://me:***@mail.example.org:465");
        assert_eq!(redact_url("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
        let settings =
            SmtpSettings { url: "smtps://me:secret@host".into(), pool_size: 4, timeout: Duration::from_secs(5) };
        assert!(!format!("{settings:?}").contains("secret"));
    }
}
