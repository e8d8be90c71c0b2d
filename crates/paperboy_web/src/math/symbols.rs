//! Lookup tables: TeX control sequences to Unicode, and the Unicode math alphabets.
//!
//! Every string here is `'static`; attribute names and values in the output can only come from these tables.

/// Fixed attribute list of one MathML element.
pub type Attrs = &'static [(&'static str, &'static str)];

/// How a symbol command renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `<mi>`, italic when a single character (lowercase Greek, `\ell`).
    Ident,
    /// `<mi mathvariant="normal">`: upright letters and symbols (capital Greek, `\infty`, `\partial`).
    Upright,
    /// `<mo>`: binary operator, relation, arrow, punctuation or delimiter.
    Op,
}

#[rustfmt::skip]
const IDENT: &[(&str, &str)] = &[
    ("alpha", "α"), ("beta", "β"), ("gamma", "γ"), ("delta", "δ"), ("epsilon", "ϵ"), ("varepsilon", "ε"),
    ("zeta", "ζ"), ("eta", "η"), ("theta", "θ"), ("vartheta", "ϑ"), ("iota", "ι"), ("kappa", "κ"),
    ("varkappa", "ϰ"), ("lambda", "λ"), ("mu", "μ"), ("nu", "ν"), ("xi", "ξ"), ("omicron", "ο"), ("pi", "π"),
    ("varpi", "ϖ"), ("rho", "ρ"), ("varrho", "ϱ"), ("sigma", "σ"), ("varsigma", "ς"), ("tau", "τ"),
    ("upsilon", "υ"), ("phi", "ϕ"), ("varphi", "φ"), ("chi", "χ"), ("psi", "ψ"), ("omega", "ω"),
    ("ell", "ℓ"), ("hbar", "ℏ"), ("imath", "ı"), ("jmath", "ȷ"), ("aleph", "ℵ"), ("wp", "℘"),
];

#[rustfmt::skip]
const UPRIGHT: &[(&str, &str)] = &[
    ("Gamma", "Γ"), ("Delta", "Δ"), ("Theta", "Θ"), ("Lambda", "Λ"), ("Xi", "Ξ"), ("Pi", "Π"), ("Sigma", "Σ"),
    ("Upsilon", "Υ"), ("Phi", "Φ"), ("Psi", "Ψ"), ("Omega", "Ω"), ("infty", "∞"), ("partial", "∂"),
    ("nabla", "∇"), ("emptyset", "∅"), ("varnothing", "∅"), ("Re", "ℜ"), ("Im", "ℑ"), ("top", "⊤"),
    ("bot", "⊥"), ("forall", "∀"), ("exists", "∃"), ("nexists", "∄"), ("neg", "¬"), ("lnot", "¬"),
    ("angle", "∠"), ("triangle", "△"), ("prime", "′"), ("Box", "□"), ("square", "□"), ("checkmark", "✓"),
];

#[rustfmt::skip]
const OPS: &[(&str, &str)] = &[
    // Binary operators.
    ("times", "×"), ("cdot", "⋅"), ("pm", "±"), ("mp", "∓"), ("div", "÷"), ("ast", "∗"), ("star", "⋆"),
    ("circ", "∘"), ("bullet", "∙"), ("oplus", "⊕"), ("ominus", "⊖"), ("otimes", "⊗"), ("odot", "⊙"),
    ("dagger", "†"), ("ddagger", "‡"), ("setminus", "∖"), ("cup", "∪"), ("cap", "∩"), ("sqcup", "⊔"),
    ("wedge", "∧"), ("land", "∧"), ("vee", "∨"), ("lor", "∨"), ("diamond", "⋄"), ("uplus", "⊎"),
    // Relations.
    ("leq", "≤"), ("le", "≤"), ("geq", "≥"), ("ge", "≥"), ("leqslant", "⩽"), ("geqslant", "⩾"), ("neq", "≠"),
    ("ne", "≠"), ("approx", "≈"), ("sim", "∼"), ("simeq", "≃"), ("cong", "≅"), ("equiv", "≡"), ("propto", "∝"),
    ("ll", "≪"), ("gg", "≫"), ("lesssim", "≲"), ("gtrsim", "≳"), ("asymp", "≍"), ("triangleq", "≜"),
    ("coloneqq", "≔"), ("doteq", "≐"), ("prec", "≺"), ("succ", "≻"), ("preceq", "⪯"), ("succeq", "⪰"),
    ("in", "∈"), ("notin", "∉"), ("ni", "∋"), ("subset", "⊂"), ("subseteq", "⊆"), ("subsetneq", "⊊"),
    ("supset", "⊃"), ("supseteq", "⊇"), ("perp", "⊥"), ("parallel", "∥"), ("mid", "∣"), ("nmid", "∤"),
    ("vdash", "⊢"), ("models", "⊨"), ("colon", ":"),
    // Arrows.
    ("to", "→"), ("rightarrow", "→"), ("leftarrow", "←"), ("gets", "←"), ("leftrightarrow", "↔"),
    ("Rightarrow", "⇒"), ("Leftarrow", "⇐"), ("Leftrightarrow", "⇔"), ("iff", "⟺"), ("implies", "⟹"),
    ("longrightarrow", "⟶"), ("longleftarrow", "⟵"), ("Longrightarrow", "⟹"), ("Longleftrightarrow", "⟺"),
    ("mapsto", "↦"), ("longmapsto", "⟼"), ("hookrightarrow", "↪"), ("uparrow", "↑"), ("downarrow", "↓"),
    ("leadsto", "⇝"), ("rightleftharpoons", "⇌"), ("nearrow", "↗"), ("searrow", "↘"),
    // Dots, delimiters and escaped characters.
    ("ldots", "…"), ("dots", "…"), ("dotsc", "…"), ("cdots", "⋯"), ("dotsb", "⋯"), ("vdots", "⋮"), ("ddots", "⋱"),
    ("langle", "⟨"), ("rangle", "⟩"), ("lfloor", "⌊"), ("rfloor", "⌋"), ("lceil", "⌈"), ("rceil", "⌉"),
    ("vert", "|"), ("lvert", "|"), ("rvert", "|"), ("Vert", "‖"), ("lVert", "‖"), ("rVert", "‖"), ("|", "‖"),
    ("lbrace", "{"), ("rbrace", "}"), ("{", "{"), ("}", "}"), ("backslash", "\\"), ("%", "%"), ("$", "$"),
    ("&", "&"), ("_", "_"), ("#", "#"),
];

/// Big operators whose limits go under and over in display style.
#[rustfmt::skip]
const LIMIT_OPS: &[(&str, &str)] = &[
    ("sum", "∑"), ("prod", "∏"), ("coprod", "∐"), ("bigcup", "⋃"), ("bigcap", "⋂"), ("bigoplus", "⨁"),
    ("bigotimes", "⨂"), ("bigodot", "⨀"), ("bigvee", "⋁"), ("bigwedge", "⋀"), ("bigsqcup", "⨆"), ("biguplus", "⨄"),
];

/// Integrals always take their limits as side scripts.
const INTEGRALS: &[(&str, &str)] = &[("int", "∫"), ("iint", "∬"), ("iiint", "∭"), ("oint", "∮")];

#[rustfmt::skip]
const FUNCTIONS: &[&str] = &[
    "arccos", "arcsin", "arctan", "arg", "cos", "cosh", "cot", "coth", "csc", "deg", "dim", "exp", "hom", "ker",
    "lg", "ln", "log", "sec", "sin", "sinh", "tan", "tanh",
];

/// Functions that take limits under them in display style, like `\lim_{n\to\infty}`.
const LIMIT_FUNCTIONS: &[&str] = &["det", "gcd", "inf", "lim", "liminf", "limsup", "max", "min", "Pr", "sup"];

#[rustfmt::skip]
const SPACES: &[(&str, &str)] = &[
    (",", "0.1667em"), ("thinspace", "0.1667em"), (":", "0.2222em"), (">", "0.2222em"), ("medspace", "0.2222em"),
    (";", "0.2778em"), ("thickspace", "0.2778em"), (" ", "0.3333em"), ("enspace", "0.5em"), ("quad", "1em"),
    ("qquad", "2em"),
];

/// An accent: (mark, stretchy, under the base, combining character for plain text).
pub type Accent = (&'static str, bool, bool, char);

#[rustfmt::skip]
const ACCENTS: &[(&str, Accent)] = &[
    ("hat", ("^", false, false, '\u{302}')), ("widehat", ("^", true, false, '\u{302}')),
    ("tilde", ("~", false, false, '\u{303}')), ("widetilde", ("~", true, false, '\u{303}')),
    ("bar", ("¯", false, false, '\u{304}')), ("overline", ("‾", true, false, '\u{305}')),
    ("vec", ("→", false, false, '\u{20D7}')), ("overrightarrow", ("→", true, false, '\u{20D7}')),
    ("dot", ("˙", false, false, '\u{307}')), ("ddot", ("¨", false, false, '\u{308}')),
    ("check", ("ˇ", false, false, '\u{30C}')), ("breve", ("˘", false, false, '\u{306}')),
    ("acute", ("´", false, false, '\u{301}')), ("grave", ("`", false, false, '\u{300}')),
    ("mathring", ("˚", false, false, '\u{30A}')), ("underline", ("_", true, true, '\u{332}')),
];

/// Math font commands: their argument's letters and digits get the variant.
#[rustfmt::skip]
const FONTS: &[(&str, Variant)] = &[
    ("mathbf", Variant::Bold), ("mathrm", Variant::Normal), ("mathup", Variant::Normal),
    ("mathit", Variant::Italic), ("mathbb", Variant::DoubleStruck), ("mathcal", Variant::Script),
    ("mathscr", Variant::Script), ("mathfrak", Variant::Fraktur), ("mathsf", Variant::SansSerif),
    ("mathtt", Variant::Monospace), ("boldsymbol", Variant::BoldItalic), ("bm", Variant::BoldItalic),
    ("mathnormal", Variant::Default),
];

/// Text-mode commands, rendered as `<mtext>`.
#[rustfmt::skip]
const TEXTS: &[(&str, Variant)] = &[
    ("text", Variant::Default), ("textrm", Variant::Default), ("textnormal", Variant::Default),
    ("textup", Variant::Default), ("mbox", Variant::Default), ("hbox", Variant::Default), ("textbf", Variant::Bold),
    ("textit", Variant::Italic), ("emph", Variant::Italic), ("textsf", Variant::SansSerif),
    ("texttt", Variant::Monospace),
];

/// Precomposed negations for `\not`; anything else gets U+0338 appended.
#[rustfmt::skip]
const NEGATIONS: &[(&str, &str)] = &[
    ("=", "≠"), ("<", "≮"), (">", "≯"), ("∈", "∉"), ("≡", "≢"), ("⊂", "⊄"), ("⊆", "⊈"), ("∼", "≁"), ("≤", "≰"),
    ("≥", "≱"), ("≈", "≉"), ("∣", "∤"), ("∥", "∦"),
];

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// A symbol command (`\alpha`, `\leq`, `\{`) and how it renders.
pub fn symbol(name: &str) -> Option<(&'static str, Class)> {
    (lookup(IDENT, name).map(|s| (s, Class::Ident)))
        .or_else(|| lookup(UPRIGHT, name).map(|s| (s, Class::Upright)))
        .or_else(|| lookup(OPS, name).map(|s| (s, Class::Op)))
}

/// A big operator and whether its limits move under/over in display style.
pub fn big_op(name: &str) -> Option<(&'static str, bool)> {
    (lookup(LIMIT_OPS, name).map(|s| (s, true))).or_else(|| lookup(INTEGRALS, name).map(|s| (s, false)))
}

/// A named function (`\log`) as displayed, and whether it takes limits like `\lim`.
pub fn function(name: &str) -> Option<(&'static str, bool)> {
    match name {
        "liminf" => Some(("lim\u{2009}inf", true)),
        "limsup" => Some(("lim\u{2009}sup", true)),
        _ => (FUNCTIONS.iter().find(|f| **f == name).map(|f| (*f, false)))
            .or_else(|| LIMIT_FUNCTIONS.iter().find(|f| **f == name).map(|f| (*f, true))),
    }
}

/// Width of a spacing command (`\,`, `\quad`).
pub fn space(name: &str) -> Option<&'static str> {
    lookup(SPACES, name)
}

/// An accent command (`\hat`).
pub fn accent(name: &str) -> Option<Accent> {
    lookup(ACCENTS, name)
}

/// A math font command (`\mathbb`).
pub fn font(name: &str) -> Option<Variant> {
    lookup(FONTS, name)
}

/// A text command (`\text`, `\textbf`).
pub fn text_style(name: &str) -> Option<Variant> {
    lookup(TEXTS, name)
}

/// The negated form of a relation, for `\not`.
pub fn negate(op: &str) -> String {
    lookup(NEGATIONS, op).map_or_else(|| format!("{op}\u{338}"), str::to_string)
}

/// A math alphabet, from `\mathbf`, `\mathbb`, ...
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Variant {
    /// No explicit variant: MathML's defaults (single letters italic).
    #[default]
    Default,
    Normal,
    Bold,
    Italic,
    BoldItalic,
    DoubleStruck,
    Script,
    Fraktur,
    SansSerif,
    Monospace,
}

/// Letters missing from the contiguous Unicode math alphabets (they predate them, in Letterlike Symbols).
#[rustfmt::skip]
const HOLES: &[(Variant, char, char)] = &[
    (Variant::Italic, 'h', 'ℎ'),
    (Variant::Script, 'B', 'ℬ'), (Variant::Script, 'E', 'ℰ'), (Variant::Script, 'F', 'ℱ'), (Variant::Script, 'H', 'ℋ'),
    (Variant::Script, 'I', 'ℐ'), (Variant::Script, 'L', 'ℒ'), (Variant::Script, 'M', 'ℳ'), (Variant::Script, 'R', 'ℛ'),
    (Variant::Script, 'e', 'ℯ'), (Variant::Script, 'g', 'ℊ'), (Variant::Script, 'o', 'ℴ'),
    (Variant::Fraktur, 'C', 'ℭ'), (Variant::Fraktur, 'H', 'ℌ'), (Variant::Fraktur, 'I', 'ℑ'),
    (Variant::Fraktur, 'R', 'ℜ'), (Variant::Fraktur, 'Z', 'ℨ'),
    (Variant::DoubleStruck, 'C', 'ℂ'), (Variant::DoubleStruck, 'H', 'ℍ'), (Variant::DoubleStruck, 'N', 'ℕ'),
    (Variant::DoubleStruck, 'P', 'ℙ'), (Variant::DoubleStruck, 'Q', 'ℚ'), (Variant::DoubleStruck, 'R', 'ℝ'),
    (Variant::DoubleStruck, 'Z', 'ℤ'),
];

impl Variant {
    /// The `mathvariant` attribute, if any.
    pub fn attrs(self) -> Attrs {
        match self {
            Variant::Default => &[],
            Variant::Normal => &[("mathvariant", "normal")],
            Variant::Bold => &[("mathvariant", "bold")],
            Variant::Italic => &[("mathvariant", "italic")],
            Variant::BoldItalic => &[("mathvariant", "bold-italic")],
            Variant::DoubleStruck => &[("mathvariant", "double-struck")],
            Variant::Script => &[("mathvariant", "script")],
            Variant::Fraktur => &[("mathvariant", "fraktur")],
            Variant::SansSerif => &[("mathvariant", "sans-serif")],
            Variant::Monospace => &[("mathvariant", "monospace")],
        }
    }

    /// First code points of the capital, small and digit alphabets in Mathematical Alphanumeric Symbols.
    fn alphabet(self) -> Option<(u32, u32, Option<u32>)> {
        Some(match self {
            Variant::Default | Variant::Normal => return None,
            Variant::Bold => (0x1D400, 0x1D41A, Some(0x1D7CE)),
            Variant::Italic => (0x1D434, 0x1D44E, None),
            Variant::BoldItalic => (0x1D468, 0x1D482, Some(0x1D7CE)),
            Variant::Script => (0x1D49C, 0x1D4B6, None),
            Variant::Fraktur => (0x1D504, 0x1D51E, None),
            Variant::DoubleStruck => (0x1D538, 0x1D552, Some(0x1D7D8)),
            Variant::SansSerif => (0x1D5A0, 0x1D5BA, Some(0x1D7E2)),
            Variant::Monospace => (0x1D670, 0x1D68A, Some(0x1D7F6)),
        })
    }

    /// Maps an ASCII letter or digit into this variant's Unicode alphabet (`R` -> `ℝ` for double-struck);
    /// other characters are returned unchanged.
    pub fn map(self, c: char) -> char {
        if let Some(&(_, _, hole)) = HOLES.iter().find(|&&(v, from, _)| v == self && from == c) {
            return hole;
        }
        let Some((upper, lower, digits)) = self.alphabet() else {
            return c;
        };
        let code = match (c, digits) {
            ('A'..='Z', _) => upper + (c as u32 - 'A' as u32),
            ('a'..='z', _) => lower + (c as u32 - 'a' as u32),
            ('0'..='9', Some(zero)) => zero + (c as u32 - '0' as u32),
            _ => return c,
        };
        char::from_u32(code).unwrap_or(c)
    }

    /// [`Variant::map`] over a string.
    pub fn apply(self, s: &str) -> String {
        s.chars().map(|c| self.map(c)).collect()
    }
}
