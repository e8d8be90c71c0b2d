//! SMTP delivery over connections kept open between messages: `smtp://host:port` (plain, for a
//! relay on the same machine), `smtp://host:port?tls=required` (STARTTLS, or `tls=opportunistic`),
//! `smtps://user:pass@host:port` (implicit TLS), with authentication from the URL. Failures are
//! sorted by what they say and about whom: worth retrying (4xx, timeouts); the recipient's mailbox
//! refused for good (a 5xx to `RCPT TO` naming the address: a bounce); this message refused for
//! good (its content, at the end of `DATA`); the server refusing *us* (a 5xx to `MAIL FROM` or
//! `DATA`, a relay or authentication refusal anywhere: our configuration, not anybody's address);
//! and an unreachable server (refused or dropped connections), which says nothing about anything.
//!
//! The SMTP conversation is lettre's; the connections are ours, opened with `TCP_NODELAY`: lettre
//! writes a message and its final `\r\n.\r\n` separately, and with Nagle's algorithm that last
//! small write waits for the server's delayed ACK — 40 ms per message, measured here.

use std::{
    fmt, io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use lettre::{
    Message,
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters},
        extension::ClientId,
    },
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Settings of the SMTP connection.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtp://`, `smtp://...?tls=required` or `smtps://` URL, credentials included.
    pub url: String,
    /// Connections kept open at most.
    pub pool_size: u32,
    /// Time allowed for connecting, and for each message's whole exchange.
    pub timeout: Duration,
    /// Certificates (PEM) trusted besides the public web roots, for a relay whose certificate a
    /// private authority signed.
    pub extra_roots_pem: Option<Vec<u8>>,
}

impl fmt::Debug for SmtpSettings {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("extra_roots", &self.extra_roots_pem.is_some())
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
    /// Worth retrying later: a 4xx reply or a timeout.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The recipient's mailbox refused for good: the server rejected that address (`RCPT TO`, or
    /// a reply about the mailbox at the end of `DATA`). `hard`: the address does not exist or
    /// takes no mail (5.1.x, or a bare 550/551/553); otherwise it may recover (a full mailbox).
    #[error("the recipient was refused: {reply}")]
    Bounced {
        /// The server's reply.
        reply: String,
        /// Whether the address is gone for good.
        hard: bool,
    },
    /// This message was refused for good (its content, at the end of `DATA`), which says nothing
    /// about the address.
    #[error("the message was refused: {0}")]
    Rejected(String),
    /// The server could not be reached or the connection broke (refused, reset, TLS): nothing is
    /// wrong with the message; wait for the server.
    #[error("mail server unavailable: {0}")]
    Unavailable(String),
    /// The server refused *us*: wrong credentials, no STARTTLS where the URL requires it, an
    /// unusable certificate setting, our sender address (a 5xx to `MAIL FROM` or `DATA`). Nothing is
    /// wrong with the message or the address and no waiting helps; the operator must change the
    /// configuration.
    #[error("{0}")]
    Refused(String),
    /// The server refused *us* for this recipient: relaying to it denied, a policy refusal at
    /// `RCPT TO` ("relay access denied", 5.7.x). Like [`SendError::Refused`] it says nothing about
    /// the address; unlike it, it may hold for this recipient only, so the message is retried later
    /// (and given up after its attempts) rather than held at the head of the queue.
    #[error("{0}")]
    RefusedRecipient(String),
}

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// No TLS (a relay on the same machine or network).
    Plain,
    /// STARTTLS after EHLO; `required` refuses a server that does not offer it.
    StartTls { required: bool },
    /// TLS from the first byte (`smtps://`, usually port 465).
    Implicit,
}

/// Where and how to connect.
#[derive(Clone)]
struct Endpoint {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
}

impl Endpoint {
    fn parse(text: &str) -> Result<Endpoint, String> {
        let invalid = |why: &str| format!("invalid SMTP URL {}: {why}", redact_url(text));
        let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| invalid("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let mut security = match url.scheme() {
            "smtp" => Security::Plain,
            "smtps" => Security::Implicit,
            other => return Err(invalid(&format!("the scheme must be smtp or smtps, not {other}"))),
        };
        let mut hello = ClientId::default();
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") if security == Security::Plain => security = Security::StartTls { required: true },
                ("tls", "opportunistic") if security == Security::Plain => {
                    security = Security::StartTls { required: false }
                }
                ("tls", _) if security == Security::Implicit => {}
                ("tls", other) => return Err(invalid(&format!("tls={other} (use required or opportunistic)"))),
                ("ehlo_name", name) => hello = ClientId::Domain(name.to_owned()),
                (other, _) => return Err(invalid(&format!("unknown parameter {other}"))),
            }
        }
        let port = url.port().unwrap_or(match security {
            Security::Implicit => 465,
            Security::StartTls { .. } => 587,
            Security::Plain => 25,
        });
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => Some(Credentials::new(percent_decode(user), percent_decode(password.unwrap_or("")))),
        };
        if credentials.is_some() && security == Security::Plain && !is_loopback(&host) {
            return Err(invalid(
                "a password would cross the network unencrypted; use tls=required (STARTTLS) or smtps://",
            ));
        }
        Ok(Endpoint { host, port, security, credentials, hello })
    }
}

/// Whether a host is this machine (a relay on it may take a password over plain SMTP).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Decodes `%XX` escapes of a URL's user or password (`+` stays `+`: this is not a form).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A TLS stream lettre can drive (implicit TLS).
struct TlsStream(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsStream")
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// The certificates of a PEM file.
fn parse_roots(pem: &[u8]) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certificates = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the trusted certificates are not valid PEM: {e}"))?;
    if certificates.is_empty() {
        return Err("the trusted certificates file holds no certificate".into());
    }
    Ok(certificates)
}

fn tls_config(extra_roots: &[rustls::pki_types::CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for certificate in extra_roots {
        roots.add(certificate.clone()).map_err(|e| format!("a trusted certificate is unusable: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

struct Inner {
    endpoint: Endpoint,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    max_idle: usize,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
    /// Extra trusted certificates (PEM), for STARTTLS (lettre builds that TLS session).
    extra_roots_pem: Option<Vec<u8>>,
}

/// An SMTP client that keeps up to `pool_size` connections open between messages.
#[derive(Clone)]
pub struct SmtpMailer {
    inner: Arc<Inner>,
}

/// A failure to connect: the server is unavailable, unless it refused us for good (bad
/// credentials, no STARTTLS where it is required), which no waiting fixes.
fn connect_error(err: lettre::transport::smtp::Error) -> SendError {
    if err.is_permanent() || err.is_client() {
        SendError::Refused(format!("the mail server refused the connection: {err}"))
    } else {
        SendError::Unavailable(err.to_string())
    }
}

impl SmtpMailer {
    /// A client for `settings.url`. Connections are opened when needed.
    pub fn new(settings: &SmtpSettings) -> Result<SmtpMailer, String> {
        let endpoint = Endpoint::parse(&settings.url)?;
        let extra_roots = settings.extra_roots_pem.as_deref().map(parse_roots).transpose()?.unwrap_or_default();
        Ok(SmtpMailer {
            inner: Arc::new(Inner {
                endpoint,
                idle: Mutex::new(Vec::new()),
                max_idle: settings.pool_size.max(1) as usize,
                timeout: settings.timeout,
                tls: tls_config(&extra_roots)?,
                extra_roots_pem: settings.extra_roots_pem.clone(),
            }),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let endpoint = &self.inner.endpoint;
        let tcp = tokio::time::timeout(
            self.inner.timeout,
            tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
        )
        .await
        .map_err(|_| SendError::Unavailable(format!("connecting to {}:{} timed out", endpoint.host, endpoint.port)))?
        .map_err(|e| SendError::Unavailable(format!("connecting to {}:{}: {e}", endpoint.host, endpoint.port)))?;
        tcp.set_nodelay(true).map_err(|e| SendError::Unavailable(e.to_string()))?;
        let handshake = async {
            let mut connection = match endpoint.security {
                Security::Implicit => {
                    let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone())
                        .map_err(|_| SendError::Refused(format!("{} is not a valid TLS server name", endpoint.host)))?;
                    let tls = tokio_rustls::TlsConnector::from(self.inner.tls.clone())
                        .connect(name, tcp)
                        .await
                        .map_err(|e| SendError::Unavailable(format!("TLS with {}: {e}", endpoint.host)))?;
                    AsyncSmtpConnection::connect_with_transport(Box::new(TlsStream(tls)), &endpoint.hello)
                        .await
                        .map_err(connect_error)?
                }
                _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &endpoint.hello)
                    .await
                    .map_err(connect_error)?,
            };
            if let Security::StartTls { required } = endpoint.security {
                if connection.can_starttls() {
                    let mut parameters = TlsParameters::builder(endpoint.host.clone());
                    if let Some(pem) = &self.inner.extra_roots_pem {
                        let certificate = lettre::transport::smtp::client::Certificate::from_pem(pem)
                            .map_err(|e| SendError::Refused(format!("the trusted certificates: {e}")))?;
                        parameters = parameters.add_root_certificate(certificate);
                    }
                    let parameters = parameters.build().map_err(connect_error)?;
                    connection.starttls(parameters, &endpoint.hello).await.map_err(connect_error)?;
                } else if required {
                    return Err(SendError::Refused(format!(
                        "{} does not offer STARTTLS, which the URL requires (tls=required)",
                        endpoint.host
                    )));
                }
            }
            if let Some(credentials) = &endpoint.credentials {
                // With tls=opportunistic a server (or someone in between) that does not offer
                // STARTTLS would get the password in the clear: refuse instead.
                if matches!(endpoint.security, Security::StartTls { .. }) && !connection.is_encrypted() {
                    return Err(SendError::Refused(format!(
                        "{} did not offer STARTTLS, and the password is not sent unencrypted (tls=required makes this explicit)",
                        endpoint.host
                    )));
                }
                connection.auth(&[Mechanism::Plain, Mechanism::Login], credentials).await.map_err(connect_error)?;
            }
            Ok(connection)
        };
        tokio::time::timeout(self.inner.timeout, handshake)
            .await
            .map_err(|_| SendError::Unavailable(format!("{} did not greet us in time", endpoint.host)))?
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_back(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.inner.max_idle {
            idle.push(connection);
        }
    }

    /// Sends one message. A kept-open connection the server has closed in the meantime is
    /// replaced once, transparently.
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        let envelope = message.envelope().clone();
        let raw = message.formatted();
        let mut reused = self.take_idle();
        loop {
            let was_reused = reused.is_some();
            let mut connection = match reused.take() {
                Some(connection) => connection,
                None => self.connect().await?,
            };
            let outcome = tokio::time::timeout(self.inner.timeout, transact(&mut connection, &envelope, &raw)).await;
            match outcome {
                Ok(Ok(())) => {
                    self.put_back(connection);
                    return Ok(());
                }
                Ok(Err((stage, err))) => {
                    connection.abort().await;
                    if let Some(judged) = judge_reply(stage, &err) {
                        return Err(judged);
                    }
                    if was_reused {
                        continue;
                    }
                    return Err(SendError::Unavailable(err.to_string()));
                }
                Err(_) => {
                    // The message may or may not have been taken; a retry later is the safe side.
                    return Err(SendError::Transient(format!(
                        "no answer within {} s",
                        self.inner.timeout.as_secs_f64()
                    )));
                }
            }
        }
    }
}

/// The step of a message's exchange that a server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `MAIL FROM`: the server judges the sender (us).
    MailFrom,
    /// `RCPT TO`: the server judges the recipient (or our right to relay to it).
    RcptTo,
    /// `DATA`: the server is asked to take a message at all.
    Data,
    /// The message itself, after `DATA`: the server judges the content.
    Content,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::Content => "the end of DATA",
        }
    }
}

/// One message's exchange (lettre's `send`, step by step, so that a refusal says at which step).
async fn transact(
    connection: &mut AsyncSmtpConnection,
    envelope: &lettre::address::Envelope,
    raw: &[u8],
) -> Result<(), (Stage, lettre::transport::smtp::Error)> {
    use lettre::transport::smtp::{
        commands::{Data, Mail, Rcpt},
        extension::{Extension, MailBodyParameter, MailParameter},
    };
    let mut options = Vec::new();
    let mut addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.any(|address| !AsRef::<str>::as_ref(address).is_ascii()) {
        // Without SMTPUTF8 the server would mangle the address; the command fails either way,
        // and its refusal names the step.
        if connection.server_info().supports_feature(Extension::SmtpUtfEight) {
            options.push(MailParameter::SmtpUtfEight);
        }
    }
    if !raw.is_ascii() && connection.server_info().supports_feature(Extension::EightBitMime) {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    connection.command(Mail::new(envelope.from().cloned(), options)).await.map_err(|e| (Stage::MailFrom, e))?;
    for recipient in envelope.to() {
        connection.command(Rcpt::new(recipient.clone(), vec![])).await.map_err(|e| (Stage::RcptTo, e))?;
    }
    connection.command(Data).await.map_err(|e| (Stage::Data, e))?;
    connection.message(raw).await.map_err(|e| (Stage::Content, e))?;
    Ok(())
}

/// What a server's refusal at `stage` means, or `None` when it is no reply at all (the
/// connection broke).
fn judge_reply(stage: Stage, err: &lettre::transport::smtp::Error) -> Option<SendError> {
    if err.is_transient() {
        return Some(SendError::Transient(err.to_string()));
    }
    if !err.is_permanent() {
        return None;
    }
    let reply = err.to_string();
    let code = err.status().map_or(0, |code| code.to_string().parse::<u16>().unwrap_or(0));
    Some(judge_permanent(stage, code, &reply))
}

/// A 5xx reply `code` (with its text) at `stage`: whose fault it is. Only a reply about the
/// recipient's mailbox counts against the address; a refusal of the sender, of relaying or of
/// authentication is about us, and a refusal of the content is about the message. The enhanced
/// status code (RFC 3463) decides when there is one; the text only when there is none, and then
/// without the addresses it quotes (an address may well contain "relay" or "auth").
fn judge_permanent(stage: Stage, code: u16, reply: &str) -> SendError {
    let about_us = || SendError::Refused(format!("the mail server refused us at {}: {reply}", stage.name()));
    let about_us_for_them =
        || SendError::RefusedRecipient(format!("the mail server refused us at {}: {reply}", stage.name()));
    let bounced = |hard| SendError::Bounced { reply: reply.to_owned(), hard };
    let rejected = || SendError::Rejected(reply.to_owned());
    if matches!(stage, Stage::MailFrom | Stage::Data) || matches!(code, 530 | 535 | 538) {
        return about_us();
    }
    match (stage, enhanced_status(reply)) {
        // The sender's address (5.1.7, 5.1.8) is ours.
        (_, Some((1, 7 | 8))) => about_us(),
        // Addressing (no such mailbox, no such domain), a disabled mailbox, routing to the
        // recipient's domain: the address is gone.
        (_, Some((1, _) | (2, 1) | (4, 4))) => bounced(true),
        // Our message is too large: the message's fault.
        (Stage::Content, Some((2, 3))) => rejected(),
        // A full mailbox, over quota: may recover.
        (_, Some((2, _))) => bounced(false),
        // Policy (5.7.x) and the rest at RCPT TO: relaying or our standing with that server.
        (Stage::RcptTo, Some(_)) => about_us_for_them(),
        (_, Some(_)) => rejected(),
        (Stage::RcptTo, None) => {
            let text = without_addresses(reply).to_ascii_lowercase();
            let names_us = [
                "relay access denied",
                "relaying denied",
                "relay not permitted",
                "not permitted to relay",
                "unable to relay",
                "authentication required",
                "must authenticate",
                "sender address rejected",
                "access denied",
            ]
            .iter()
            .any(|phrase| text.contains(phrase));
            match code {
                _ if names_us => about_us_for_them(),
                // Without an enhanced code, the classic "no such user" replies.
                550 | 551 | 553 => bounced(true),
                552 => bounced(false),
                _ => about_us_for_them(),
            }
        }
        (_, None) => rejected(),
    }
}

/// A reply's text without the `<...>` addresses it quotes.
fn without_addresses(reply: &str) -> String {
    let mut out = String::with_capacity(reply.len());
    let mut depth = 0usize;
    for ch in reply.chars() {
        match ch {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(ch),
            _ => {}
        }
    }
    out
}

/// The subject and detail of an RFC 3463 enhanced status code `5.X.Y` at the start of a reply's
/// text (`permanent error (550): 5.1.1 <a@b>: no such user` -> `(1, 1)`).
fn enhanced_status(reply: &str) -> Option<(u16, u16)> {
    let text = reply.split_once("): ").map_or(reply, |(_, rest)| rest).trim_start();
    let token = text.split_whitespace().next()?;
    let mut parts = token.trim_end_matches([':', ',']).split('.');
    let class = parts.next()?;
    let subject = parts.next()?.parse().ok()?;
    let detail = parts.next()?.parse().ok()?;
    (class == "5" && parts.next().is_none()).then_some((subject, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact_url("smtps://me:secret@mail.example.org:465"), "smtps://me:***@mail.example.org:465");
        assert_eq!(redact_url("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
        let settings = SmtpSettings {
            url: "smtps://me:secret@host".into(),
            pool_size: 4,
            timeout: Duration::from_secs(5),
            extra_roots_pem: None,
        };
        assert!(!format!("{settings:?}").contains("secret"));
    }

    #[test]
    fn urls_say_where_and_how() {
        let plain = Endpoint::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((plain.host.as_str(), plain.port, plain.security), ("127.0.0.1", 2525, Security::Plain));
        assert!(plain.credentials.is_none());
        let starttls = Endpoint::parse("smtp://mail.example.org?tls=required").unwrap();
        assert_eq!((starttls.port, starttls.security), (587, Security::StartTls { required: true }));
        let implicit = Endpoint::parse("smtps://me%40example.org:p%3Ass@mail.example.org").unwrap();
        assert_eq!((implicit.port, implicit.security), (465, Security::Implicit));
        assert!(implicit.credentials.is_some());
        assert_eq!(percent_decode("me%40example.org"), "me@example.org");
        assert_eq!(percent_decode("p%3Ass+w%zz"), "p:ss+w%zz", "+ is a plus, a bad escape stays");
        for bad in
            ["http://mail.example.org", "smtp://", "smtp://host?tls=sometimes", "smtp://host?color=blue", "not a url"]
        {
            let err = Endpoint::parse(bad).err().unwrap_or_else(|| panic!("{bad} parsed"));
            assert!(err.starts_with("invalid SMTP URL"), "{err}");
        }
        assert!(!Endpoint::parse("smtps://me:secret@host?tls=nope").err().unwrap_or_default().contains("secret"));
        let cleartext = Endpoint::parse("smtp://me:secret@mail.example.org:25").err().unwrap_or_default();
        assert!(cleartext.contains("unencrypted") && !cleartext.contains("secret"), "{cleartext}");
        assert!(Endpoint::parse("smtp://me:secret@127.0.0.1:2525").is_ok(), "a relay on this machine may");
    }

    #[test]
    fn only_a_refusal_of_the_recipient_counts_against_the_address() {
        let judge =
            |stage, code, text: &str| judge_permanent(stage, code, &format!("permanent error ({code}): {text}"));
        let bounced = |e: &SendError| matches!(e, SendError::Bounced { hard: true, .. });
        let refused = |e: &SendError| matches!(e, SendError::Refused(_));
        // The recipient's mailbox.
        assert!(bounced(&judge(Stage::RcptTo, 550, "5.1.1 <a@b>: Recipient address rejected: User unknown")));
        assert!(bounced(&judge(Stage::RcptTo, 550, "no such user here")), "a bare 550 is the classic bounce");
        assert!(bounced(&judge(Stage::RcptTo, 553, "5.1.10 Null MX")));
        assert!(bounced(&judge(Stage::Content, 550, "5.1.1 mailbox unavailable")));
        assert!(matches!(judge(Stage::RcptTo, 552, "5.2.2 mailbox full"), SendError::Bounced { hard: false, .. }));
        // Us: our credentials, our sender, relaying, our reputation.
        assert!(refused(&judge(Stage::MailFrom, 530, "5.7.0 Authentication required")));
        assert!(refused(&judge(Stage::MailFrom, 553, "5.1.8 sender address rejected")));
        assert!(refused(&judge(Stage::MailFrom, 550, "5.1.1 no such user")), "MAIL FROM is about us, whatever it says");
        assert!(refused(&judge(Stage::Data, 554, "5.5.1 no valid recipients")));
        let refused_here = |e: &SendError| matches!(e, SendError::RefusedRecipient(_));
        assert!(refused_here(&judge(Stage::RcptTo, 554, "5.7.1 <a@b>: Relay access denied")));
        assert!(refused_here(&judge(Stage::RcptTo, 550, "Relaying denied")), "no enhanced code, but it says so");
        assert!(refused(&judge(Stage::RcptTo, 530, "Authentication required")));
        assert!(refused_here(&judge(Stage::RcptTo, 554, "rejected")), "a bare 554 at RCPT TO is a policy refusal");
        assert!(refused_here(&judge(Stage::RcptTo, 550, "5.7.1 client host blocked using zen.spamhaus.org")));
        // The enhanced code decides over the words, and quoted addresses are not read as words.
        assert!(bounced(&judge(
            Stage::RcptTo,
            550,
            "5.1.1 <u@d>: Recipient address rejected: User unknown in relay recipient table"
        )));
        assert!(bounced(&judge(Stage::RcptTo, 550, "<author@relay.invalid>: no such user")));
        assert!(matches!(judge(Stage::Content, 552, "5.2.3 message too large"), SendError::Rejected(_)));
        assert!(matches!(judge(Stage::Content, 554, "5.7.1 sender not authorized (DMARC)"), SendError::Rejected(_)));
        // The message.
        assert_eq!(
            judge(Stage::Content, 554, "5.6.0 message content rejected"),
            SendError::Rejected("permanent error (554): 5.6.0 message content rejected".into())
        );
        assert!(matches!(judge(Stage::Content, 554, "Transaction failed: spam"), SendError::Rejected(_)));
    }

    #[test]
    fn enhanced_status_codes_are_read_from_the_reply() {
        assert_eq!(enhanced_status("permanent error (550): 5.1.1 <a@b>: no such user"), Some((1, 1)));
        assert_eq!(enhanced_status("permanent error (553): 5.1.10 Null MX"), Some((1, 10)));
        assert_eq!(enhanced_status("permanent error (550): no such user"), None);
        assert_eq!(enhanced_status("permanent error (550): 4.2.1 odd"), None, "a 5xx reply's code starts with 5");
        assert_eq!(enhanced_status("5.7.1, relaying denied"), Some((7, 1)));
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_unavailable_not_a_bounce() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mailer = SmtpMailer::new(&SmtpSettings {
            url: format!("smtp://127.0.0.1:{port}"),
            pool_size: 1,
            timeout: Duration::from_secs(2),
            extra_roots_pem: None,
        })
        .unwrap();
        let message = Message::builder()
            .from("a@example.org".parse().unwrap())
            .to("b@example.org".parse().unwrap())
            .subject("x")
            .body(String::from("y"))
            .unwrap();
        assert!(matches!(mailer.send(message).await, Err(SendError::Unavailable(_))));
    }
}
