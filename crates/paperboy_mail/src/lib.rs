//! paperboy's e-mail: the digest, the subscription confirmation and the sign-in link as MIME
//! messages (plain text and HTML alternatives, inline CSS, no remote images), and delivery over
//! SMTP (STARTTLS or implicit TLS, authentication, pooled connections).
//!
//! Everything from outside — titles, author names, search terms — is escaped in the HTML part;
//! header values are encoded by lettre, which refuses line breaks in them.

mod render;
mod smtp;

pub use lettre::Message;
pub use render::{DigestItem, DigestView, MailContext, confirm_message, digest_message, sign_in_message};
pub use smtp::{SendError, SmtpMailer, SmtpSettings, redact_url};

/// Building a message failed (an address or header lettre refuses).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the message: {0}")]
pub struct BuildError(pub String);
