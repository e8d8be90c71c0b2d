//! A small element tree over quick-xml: arXiv's responses are at most a few megabytes a page, and a
//! tree keeps the OAI-PMH and Atom readers short and obvious.

use quick_xml::{
    Reader,
    events::{BytesStart, Event},
};

use crate::Error;

/// One element: its local name (namespace prefix dropped), attributes and children.
#[derive(Debug, Default)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) children: Vec<Child>,
}

#[derive(Debug)]
pub(crate) enum Child {
    Element(Element),
    Text(String),
}

impl Element {
    /// The first child element with this local name.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// Every child element with this local name.
    pub(crate) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    pub(crate) fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Child::Element(e) => Some(e),
            Child::Text(_) => None,
        })
    }

    /// The text of this element and its descendants, concatenated.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }

    fn collect_text(&self, out: &mut String) {
        for child in &self.children {
            match child {
                Child::Text(text) => out.push_str(text),
                Child::Element(e) => e.collect_text(out),
            }
        }
    }

    /// The text of the named child, if the child exists.
    pub(crate) fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(Element::text)
    }

    /// An attribute's value by local name.
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Decodes a response body to text: UTF-8 (the standard, and what arXiv sends), or ISO-8859-1 /
/// windows-1252 when the XML declaration says so. Anything else is a clear error.
pub(crate) fn decode(bytes: &[u8]) -> Result<String, Error> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_ascii_lowercase();
    let declared = head
        .strip_prefix("<?xml")
        .and_then(|decl| decl.split("?>").next())
        .and_then(|decl| decl.split("encoding=").nth(1))
        .map(|rest| rest.trim_start_matches(['"', '\'']).split(['"', '\'']).next().unwrap_or("").to_owned());
    match declared.as_deref() {
        None | Some("utf-8" | "utf8" | "us-ascii" | "ascii") => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            String::from_utf8(bytes.to_vec()).map_err(|err| {
                Error::Malformed(format!(
                    "the response is not valid UTF-8 (invalid byte at offset {})",
                    err.utf8_error().valid_up_to()
                ))
            })
        }
        // Latin-1 maps each byte to the code point of the same value.
        Some("iso-8859-1" | "latin1" | "latin-1" | "windows-1252" | "cp1252") => {
            Ok(bytes.iter().map(|&b| b as char).collect())
        }
        Some(other) => Err(Error::Malformed(format!("unsupported XML encoding {other:?}"))),
    }
}

/// The deepest nesting of elements accepted. arXiv's documents nest about eight deep; a hostile one
/// nesting a million deep would otherwise overflow the stack (in reading its text and in dropping
/// its tree), taking down the server that harvested it.
pub(crate) const MAX_DEPTH: usize = 256;

/// Parses a whole document into its root element.
pub(crate) fn parse(text: &str) -> Result<Element, Error> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = vec![Element::default()];
    let malformed = |reader: &Reader<&[u8]>, detail: String| {
        Error::Malformed(format!("malformed XML at byte {}: {detail}", reader.buffer_position()))
    };
    loop {
        let event = reader.read_event().map_err(|err| malformed(&reader, err.to_string()))?;
        match event {
            Event::Start(start) => {
                if stack.len() > MAX_DEPTH {
                    return Err(malformed(&reader, format!("elements nest deeper than {MAX_DEPTH} levels")));
                }
                stack.push(element(&start).map_err(|e| malformed(&reader, e))?)
            }
            Event::Empty(start) => {
                let element = element(&start).map_err(|e| malformed(&reader, e))?;
                stack.last_mut().expect("the document root stays").children.push(Child::Element(element));
            }
            Event::End(_) => {
                let element = stack.pop().expect("check_end_names keeps starts and ends paired");
                let parent = stack.last_mut().ok_or_else(|| malformed(&reader, "unbalanced end tag".into()))?;
                parent.children.push(Child::Element(element));
            }
            Event::Text(text) => {
                push_text(&mut stack, &text.xml10_content());
            }
            Event::CData(data) => {
                push_text(&mut stack, &data.xml10_content());
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(ch)) => ch.to_string(),
                    Ok(None) => {
                        let name = reference.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| malformed(&reader, format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                    Err(err) => return Err(malformed(&reader, err.to_string())),
                };
                push_text(&mut stack, &resolved);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::DocType(_) | Event::Comment(_) => {}
        }
    }
    if stack.len() != 1 {
        return Err(Error::Malformed(format!(
            "the XML document ends inside <{}> (truncated?)",
            stack.last().map_or("", |e| e.name.as_str())
        )));
    }
    let document = stack.pop().expect("one element left");
    document
        .children
        .into_iter()
        .find_map(|c| match c {
            Child::Element(e) => Some(e),
            Child::Text(_) => None,
        })
        .ok_or_else(|| Error::Malformed("the response holds no XML element".into()))
}

fn push_text(stack: &mut [Element], text: &str) {
    let parent = stack.last_mut().expect("the document root stays");
    match parent.children.last_mut() {
        Some(Child::Text(existing)) => existing.push_str(text),
        _ => parent.children.push(Child::Text(text.to_owned())),
    }
}

fn element(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = start.local_name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = attribute.key.local_name().as_ref().to_owned();
        let value =
            attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| e.to_string())?.into_owned();
        attributes.push((key, value));
    }
    Ok(Element { name, attributes, children: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_namespaces_resolve() {
        let root = parse(r#"<a:feed xmlns:a="x"><t k="1 &amp; 2">A &amp; B &#233; &gt;</t><e/></a:feed>"#).unwrap();
        assert_eq!(root.name, "feed");
        let t = root.child("t").unwrap();
        assert_eq!(t.text(), "A & B é >");
        assert_eq!(t.attribute("k"), Some("1 & 2"));
        assert!(root.child("e").is_some());
    }

    #[test]
    fn truncated_and_mismatched_documents_are_errors() {
        assert!(parse("<a><b>text</b>").unwrap_err().to_string().contains("truncated"));
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("no xml here").is_err());
        assert!(parse("<a>&bogus;</a>").unwrap_err().to_string().contains("unknown entity"));
    }

    #[test]
    fn deeply_nested_documents_are_refused_not_a_stack_overflow() {
        let deep = format!("{}{}", "<a>".repeat(1_000_000), "</a>".repeat(1_000_000));
        let err = parse(&deep).unwrap_err().to_string();
        assert!(err.contains("nest deeper"), "{err}");
        let unclosed = "<a>".repeat(1_000_000);
        assert!(parse(&unclosed).is_err());
        let fine = format!("{}x{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert_eq!(parse(&fine).unwrap().text(), "x");
    }

    #[test]
    fn encodings_decode_or_fail_clearly() {
        assert_eq!(
            decode(b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe9</a>").unwrap(),
            "<?xml version='1.0' encoding='ISO-8859-1'?><a>é</a>"
        );
        let err = decode(b"<?xml version='1.0' encoding='UTF-8'?><a>\xe9</a>").unwrap_err();
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
        let err = decode(b"<?xml version='1.0' encoding='Shift_JIS'?><a/>").unwrap_err();
        assert!(err.to_string().contains("unsupported XML encoding"), "{err}");
    }
}
