//! What the outbox holds: each queued message's content (its payload), which delivery renders at
//! send time. A digest is a list of papers with reasons; a confirmation or sign-in mail carries
//! only a nonce from which the signing key derives the link's token.

use chrono::NaiveDate;
use paperboy_domain::{ArxivId, Cadence};
use serde::{Deserialize, Serialize};

/// The message an outbox entry renders to (its payload).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MailPayload {
    /// A digest.
    Digest(DigestPayload),
    /// "Confirm your subscription", with the confirmation link.
    Confirm(LinkSecret),
    /// "Your sign-in link".
    SignIn(LinkSecret),
}

impl MailPayload {
    /// The payload as stored.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("payloads serialise")
    }
}

/// How a queued mail carries its single-use link: a nonce whose HMAC under the signing key is the
/// token, so the store never holds a usable token. (Mail queued by older versions carries the
/// token itself.) Dropped from the store once the message is sent or has failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinkSecret {
    /// The nonce the token derives from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The token itself (mail queued before nonces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A digest as queued.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestPayload {
    /// The day it is for.
    pub date: NaiveDate,
    /// Daily or weekly.
    pub cadence: Cadence,
    /// The first announcement day it covers.
    pub since: NaiveDate,
    /// Papers for the subscriber.
    pub items: Vec<DigestEntry>,
    /// The trending section.
    pub trending: Vec<DigestEntry>,
}

impl DigestPayload {
    /// Every paper it holds, the trending section's too.
    pub fn papers(&self) -> impl Iterator<Item = ArxivId> + '_ {
        self.items.iter().chain(&self.trending).map(|entry| entry.paper)
    }
}

/// One paper of a digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestEntry {
    /// The paper.
    pub paper: ArxivId,
    /// How strongly it matched (orders the digest).
    pub score: f32,
    /// Why it is there, strongest first.
    pub reasons: Vec<Reason>,
}

/// Why a paper is in a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// It matches a saved search: by its words (`terms`), by meaning (`similarity`), or both.
    Search {
        /// The saved search.
        query: String,
        /// The search's words the paper contains (when it matched by words).
        terms: Vec<String>,
        /// Cosine similarity of the search and the paper (when it matched by meaning).
        similarity: Option<f32>,
    },
    /// It is in a followed category.
    Category {
        /// The category.
        category: String,
    },
    /// A followed author wrote it.
    Author {
        /// The author as the paper names them.
        name: String,
    },
    /// It is like the papers in the subscriber's library.
    Library {
        /// The nearest library paper.
        like: String,
        /// Its title.
        title: String,
        /// The library model's probability.
        score: f32,
        /// Whether the nearest paper is a "more like this" seed rather than a saved one.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        seed: bool,
    },
    /// It is trending.
    Trending {
        /// Upvotes from every source.
        upvotes: u32,
        /// Stars of its code.
        stars: Option<u32>,
    },
}

impl Reason {
    /// One line for people: "matches your search 'diffusion policy': diffusion, policy".
    pub fn describe(&self) -> String {
        match self {
            Reason::Search { query, terms, similarity } => match (terms.is_empty(), similarity) {
                (false, _) => format!("matches your search '{query}': {}", terms.join(", ")),
                (true, Some(similarity)) => {
                    format!("close in meaning to your search '{query}' (similarity {similarity:.2})")
                }
                (true, None) => format!("matches your search '{query}'"),
            },
            Reason::Category { category } => format!("in {category}, which you follow"),
            Reason::Author { name } => format!("by {name}, whom you follow"),
            Reason::Library { title, seed: false, .. } => format!("similar to \u{201c}{title}\u{201d} in your library"),
            Reason::Library { title, seed: true, .. } => {
                format!("similar to \u{201c}{title}\u{201d}, which you asked for more like")
            }
            Reason::Trending { upvotes, stars } => {
                let mut text = format!("trending: {upvotes} upvote{}", if *upvotes == 1 { "" } else { "s" });
                if let Some(stars) = stars {
                    text.push_str(&format!(", {stars} GitHub stars"));
                }
                text
            }
        }
    }
}
