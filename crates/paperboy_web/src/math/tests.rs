use super::*;

const TAGS: &[&str] = &[
    "math",
    "mi",
    "mn",
    "mo",
    "mtext",
    "mrow",
    "msub",
    "msup",
    "msubsup",
    "mfrac",
    "msqrt",
    "mroot",
    "mover",
    "munder",
    "munderover",
    "mspace",
    "mstyle",
];

#[rustfmt::skip]
const ATTRS: &[(&str, &[&str])] = &[
    ("xmlns", &["http://www.w3.org/1998/Math/MathML"]),
    ("display", &["block"]),
    ("mathvariant", &["normal", "bold", "italic", "bold-italic", "double-struck", "script", "fraktur", "sans-serif",
                      "monospace"]),
    ("stretchy", &["true", "false"]), ("fence", &["true"]), ("form", &["prefix", "postfix", "infix"]),
    ("separator", &["true"]), ("accent", &["true"]), ("accentunder", &["true"]), ("linethickness", &["0"]),
    ("width", &["0.1667em", "0.2222em", "0.2778em", "0.3333em", "0.5em", "1em", "2em"]),
];

/// A tiny HTML scanner: every tag must be an allowed MathML element with allowed attribute values, tags must
/// nest properly with `<math>` only at the top, and text may contain only the five entities we emit.
fn check_html(html: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').unwrap_or_else(|| panic!("unterminated tag in {html:?}"));
                let tag = &rest[1..end];
                rest = &rest[end + 1..];
                if let Some(name) = tag.strip_prefix('/') {
                    assert_eq!(stack.pop(), Some(name), "bad close tag in {html:?}");
                    continue;
                }
                let mut parts = tag.split(' ');
                let name = parts.next().unwrap_or_default();
                assert!(TAGS.contains(&name), "tag {name:?} in {html:?}");
                assert_eq!(name == "math", stack.is_empty(), "misplaced <{name}> in {html:?}");
                for attr in parts {
                    let (key, value) = attr.split_once('=').unwrap_or_else(|| panic!("attr {attr:?} in {html:?}"));
                    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).expect("quoted value");
                    let (_, values) = ATTRS.iter().find(|(k, _)| *k == key).expect("allowed attribute");
                    assert!(values.contains(&value), "{key}={value:?} in {html:?}");
                }
                stack.push(name);
            }
            '&' => {
                let entity = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().find(|e| rest.starts_with(**e));
                rest = &rest[entity.unwrap_or_else(|| panic!("raw & in {html:?}")).len()..];
            }
            '>' | '"' | '\'' => panic!("raw {c:?} in text of {html:?}"),
            _ => rest = &rest[c.len_utf8()..],
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?} in {html:?}");
}

/// Segments cover the input in order; text is verbatim, so text plus math sources rebuild the input.
fn check_round_trip(input: &str) {
    let mut rebuilt = String::new();
    for (segment, range) in render_spans(input) {
        assert_eq!(range.start, rebuilt.len(), "gap before {range:?} in {input:?}");
        match segment {
            Segment::Text(t) => {
                assert_eq!(t, input[range].to_string());
                rebuilt.push_str(&t);
            }
            Segment::Math(m) => {
                assert!(m.starts_with("<math ") && m.ends_with("</math>"));
                rebuilt.push_str(&input[range]);
            }
        }
    }
    assert_eq!(rebuilt, input);
}

fn check_all(input: &str) {
    check_round_trip(input);
    check_html(&to_html(input));
    to_plain(input);
}

#[test]
fn arxiv_examples() {
    #[rustfmt::skip]
    let cases: &[(&str, &[&str])] = &[
        ("$\\Lambda_{\\alpha}$", &["<msub><mi mathvariant=\"normal\">Λ</mi><mi>α</mi></msub>"]),
        ("$O(n \\log n)$", &["<mi>O</mi><mo stretchy=\"false\">(</mo><mi>n</mi><mi>log</mi><mo>\u{2061}</mo><mspace width=\"0.1667em\"></mspace><mi>n</mi>"]),
        ("$\\mathcal{O}(1/\\sqrt{T})$", &["<mi mathvariant=\"script\">𝒪</mi>", "<mn>1</mn><mo>/</mo><msqrt><mi>T</mi></msqrt>"]),
        ("$10^{-3}$", &["<msup><mn>10</mn><mrow><mo>−</mo><mn>3</mn></mrow></msup>"]),
        ("$\\ell_1$", &["<msub><mi>ℓ</mi><mn>1</mn></msub>"]),
        ("$k$-NN", &["<mi>k</mi></math>-NN"]),
        ("$\\mathbb{R}^d$", &["<msup><mi mathvariant=\"double-struck\">ℝ</mi><mi>d</mi></msup>"]),
        ("$p < 0.05$", &["<mi>p</mi><mo>&lt;</mo><mn>0.05</mn>"]),
        ("$\\frac{1}{2}$", &["<mfrac><mn>1</mn><mn>2</mn></mfrac>"]),
        ("$x_i^2$", &["<msubsup><mi>x</mi><mi>i</mi><mn>2</mn></msubsup>"]),
        ("$\\hat{y}$", &["<mover accent=\"true\"><mi>y</mi><mo stretchy=\"false\">^</mo></mover>"]),
        ("$\\mathrm{SO}(3)$", &["<mrow><mi mathvariant=\"normal\">S</mi><mi mathvariant=\"normal\">O</mi></mrow><mo stretchy=\"false\">(</mo><mn>3</mn>"]),
        ("$\\text{softmax}(QK^\\top/\\sqrt{d})$", &["<mtext>softmax</mtext>", "<msup><mi>K</mi><mi mathvariant=\"normal\">⊤</mi></msup><mo>/</mo><msqrt><mi>d</mi></msqrt>"]),
        ("$\\sim$", &["<mo>∼</mo>"]),
        ("$\\times$", &["<mo>×</mo>"]),
        ("$\\geq 90\\%$", &["<mo>≥</mo><mn>90</mn><mo>%</mo>"]),
        ("$\\left( a \\right)$", &["<mrow><mo fence=\"true\" form=\"prefix\" stretchy=\"true\">(</mo><mi>a</mi><mo fence=\"true\" form=\"postfix\" stretchy=\"true\">)</mo></mrow>"]),
        ("$\\{0,1\\}^n$", &["<mo stretchy=\"false\">{</mo><mn>0</mn><mo>,</mo><mn>1</mn><msup><mo stretchy=\"false\">}</mo><mi>n</mi></msup>"]),
        ("$\\|x\\|_2$", &["<mo stretchy=\"false\">‖</mo><mi>x</mi><msub><mo stretchy=\"false\">‖</mo><mn>2</mn></msub>"]),
        ("$\\approx$", &["<mo>≈</mo>"]),
        ("$\\pm$", &["<mo>±</mo>"]),
        ("$\\infty$", &["<mi mathvariant=\"normal\">∞</mi>"]),
        ("$\\sum_{i=1}^n x_i$", &["<msubsup><mo>∑</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi></msubsup><msub><mi>x</mi><mi>i</mi></msub>"]),
        ("$$\\sum_{i=1}^n x_i$$", &["display=\"block\"", "<munderover><mo>∑</mo>"]),
        ("$\\int_0^1 f$", &["<msubsup><mo>∫</mo><mn>0</mn><mn>1</mn></msubsup><mi>f</mi>"]),
        ("$A \\to B$", &["<mi>A</mi><mo>→</mo><mi>B</mi>"]),
        ("$\\in$", &["<mo>∈</mo>"]),
        ("$\\mathbf{x}$", &["<mi mathvariant=\"bold\">𝐱</mi>"]),
        ("$\\tilde{O}$", &["<mover accent=\"true\"><mi>O</mi><mo stretchy=\"false\">~</mo></mover>"]),
        ("$\\bar{x}$", &["<mover accent=\"true\"><mi>x</mi><mo stretchy=\"false\">¯</mo></mover>"]),
        ("$\\partial$", &["<mi mathvariant=\"normal\">∂</mi>"]),
        ("$\\nabla$", &["<mi mathvariant=\"normal\">∇</mi>"]),
        ("$1.5\\times$", &["<mn>1.5</mn><mo>×</mo>"]),
        ("$\\varepsilon$", &["<mi>ε</mi>"]),
        ("$\\sqrt[3]{x}$", &["<mroot><mi>x</mi><mn>3</mn></mroot>"]),
        ("$\\binom{n}{k}$", &["<mfrac linethickness=\"0\"><mi>n</mi><mi>k</mi></mfrac>"]),
        ("$f'(x)$", &["<msup><mi>f</mi><mo>′</mo></msup>"]),
        ("$\\lim_{n \\to \\infty}$", &["<msub><mi>lim</mi>"]),
        ("$$\\max_x f$$", &["<munder><mi>max</mi><mi>x</mi></munder><mo>\u{2061}</mo>"]),
        ("$\\operatorname{rank}(A)$", &["<mi>rank</mi><mo>\u{2061}</mo><mo stretchy=\"false\">(</mo>"]),
        ("$a \\, b \\quad c$", &["<mspace width=\"0.1667em\"></mspace>", "<mspace width=\"1em\"></mspace>"]),
        ("$\\text{ if }x$", &["<mtext>\u{a0}if\u{a0}</mtext>"]),
        ("$\\url{http://a.b/c}$", &["<mtext>http://a.b/c</mtext>"]),
        ("$\\foo x$", &["<mtext>\\foo</mtext><mi>x</mi>"]),
        ("$\\not\\in$", &["<mo>∉</mo>"]),
        ("$\\mathsf{A}\\mathtt{b}\\boldsymbol{\\mu}$", &["<mi mathvariant=\"sans-serif\">𝖠</mi>", "<mi mathvariant=\"monospace\">𝚋</mi>", "<mi mathvariant=\"bold-italic\">μ</mi>"]),
        ("\\(x\\) and \\[y\\]", &["<mi>x</mi></math> and <math xmlns=\"http://www.w3.org/1998/Math/MathML\" display=\"block\"><mi>y</mi>"]),
    ];
    for (input, expected) in cases {
        let html = to_html(input);
        check_html(&html);
        for part in *expected {
            assert!(html.contains(part), "{input:?}\n  gave {html}\n  expected {part}");
        }
    }
}

#[test]
fn snapshots() {
    let m = |body: &str| format!("<math xmlns=\"http://www.w3.org/1998/Math/MathML\">{body}</math>");
    assert_eq!(to_html("$x_i^2$"), m("<msubsup><mi>x</mi><mi>i</mi><mn>2</mn></msubsup>"));
    assert_eq!(to_html("$\\frac{1}{2}$"), m("<mfrac><mn>1</mn><mn>2</mn></mfrac>"));
    assert_eq!(
        to_html("$\\mathcal{O}(1/\\sqrt{T})$"),
        m("<mi mathvariant=\"script\">𝒪</mi><mo stretchy=\"false\">(</mo><mn>1</mn><mo>/</mo>\
           <msqrt><mi>T</mi></msqrt><mo stretchy=\"false\">)</mo>")
    );
    assert_eq!(
        to_html("Rate $10^{-3}$ for $\\hat{y}$."),
        format!(
            "Rate {} for {}.",
            m("<msup><mn>10</mn><mrow><mo>−</mo><mn>3</mn></mrow></msup>"),
            m("<mover accent=\"true\"><mi>y</mi><mo stretchy=\"false\">^</mo></mover>")
        )
    );
    assert_eq!(
        to_html("$$\\int_0^1 f \\, dx$$"),
        "<math xmlns=\"http://www.w3.org/1998/Math/MathML\" display=\"block\"><msubsup><mo>∫</mo><mn>0</mn><mn>1</mn>\
         </msubsup><mi>f</mi><mspace width=\"0.1667em\"></mspace><mi>d</mi><mi>x</mi></math>"
    );
}

#[test]
fn hostile_input() {
    let cases = [
        "<script>alert(1)</script>",
        "$<script>alert(1)</script>$",
        "$\\href{javascript:alert(1)}{x}$",
        "$\\text{<img src=x onerror=alert(1)>}$",
        "</math><script>",
        "$x$\" onmouseover=\"alert(1)",
        "$\\mathrm{a\"b}$",
        "$\\text{</mtext><script>}$ \\(\\url{javascript:'}\\)",
        "$\\operatorname{<b>}\\foo<\\mathbb{'}$",
    ];
    for input in cases {
        let html = to_html(input);
        check_html(&html);
        check_round_trip(input);
        assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
    }
    assert!(!to_html(cases[2]).contains("javascript:"));
    assert_eq!(to_html(cases[2]), "<math xmlns=\"http://www.w3.org/1998/Math/MathML\"><mtext>x</mtext></math>");
    assert!(to_html(cases[3]).contains("<mtext>&lt;img src=x onerror=alert(1)&gt;</mtext>"));
    assert!(to_html(cases[5]).ends_with("</math>&quot; onmouseover=&quot;alert(1)"));
    assert_eq!(escape_html("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
}

#[test]
fn splitting() {
    let text = |s: &str| Segment::Text(s.to_string());
    let kinds = |s: &str| render(s).iter().map(|seg| matches!(seg, Segment::Math(_))).collect::<Vec<_>>();
    // Prices and other unpaired dollars stay text.
    for s in ["costs $5 and $10", "a lone $ sign", "$5-$10", "from $ 5 to $ 10", "$ $", "$$", "$$ $$", "x$$y"] {
        assert_eq!(render(s), vec![text(s)], "{s}");
    }
    assert_eq!(render("\\$x\\$ is not math"), vec![text("\\$x\\$ is not math")]);
    assert_eq!(kinds("costs $5 and the $x$ axis"), [false, true, false]);
    assert_eq!(kinds("$2$-approximation, $5 \\times 5$ grid"), [true, false, true, false]);
    assert_eq!(kinds("$ x $ and $a$$b$"), [true, false, true, true]);
    assert_eq!(kinds("$\\$5$"), [true]);
    assert_eq!(kinds("$a\nb$"), [true]);
    assert_eq!(kinds("$a\n\nb$"), [false]);
    assert_eq!(kinds("$$a$$ \\(b\\) \\[c\\] \\(\\)"), [true, false, true, false, true, false]);
    assert!(matches!(&render("$$x$$")[0], Segment::Math(m) if m.contains("display=\"block\"")));
    // Unparseable math comes back as its source, merged with the surrounding text.
    assert_eq!(render("a $x^1^2$ b $\\begin{matrix}$"), vec![text("a $x^1^2$ b $\\begin{matrix}$")]);
    for s in ["$x}$", "${x$", "$\\left( x$", "$x \\right)$", "$\\frac{a}$", "$a & b$"] {
        assert_eq!(render(s), vec![text(s)], "{s}");
    }
}

#[test]
fn limits() {
    let long = format!("${}$", "x".repeat(MAX_MATH_LEN));
    assert!(matches!(&render(&long)[0], Segment::Math(_)));
    let too_long = format!("${}$", "x".repeat(MAX_MATH_LEN + 1));
    assert_eq!(render(&too_long), vec![Segment::Text(too_long.clone())]);
    let nest = |n: usize| format!("${}x{}$", "{".repeat(n), "}".repeat(n));
    assert!(matches!(&render(&nest(parse::MAX_DEPTH))[0], Segment::Math(_)));
    assert_eq!(render(&nest(parse::MAX_DEPTH + 1)), vec![Segment::Text(nest(parse::MAX_DEPTH + 1))]);
    for deep in ["\\sqrt", "\\left(", "x^", "\\mathbf", "\\frac1", "\\hat", "\\not"] {
        let s = format!("${}x$", deep.repeat(500));
        check_all(&s);
        assert_eq!(render(&s), vec![Segment::Text(s.clone())], "{deep}");
    }
}

#[test]
fn huge_inputs() {
    let mut cases = vec![
        format!("${}$", "{".repeat(10_000)),
        format!("${}x{}$", "{".repeat(10_000), "}".repeat(10_000)),
        "{".repeat(100_000),
        "$x$ ".repeat(25_000),
        "$".repeat(100_000),
        "\\(".repeat(50_000),
        "\\[ $ ".repeat(20_000),
        format!("${}$", "\\alpha".repeat(300)),
    ];
    cases.push(format!("{}\\)", cases[5]));
    for input in &cases {
        check_all(input);
    }
    assert_eq!(render(&cases[3]).len(), 50_000);
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn string(&mut self, alphabet: &[char], max_len: u64) -> String {
        let len = self.next() % (max_len + 1);
        (0..len).map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize]).collect()
    }
}

/// Random strings over the brief's alphabet, a richer one, and TeX tokens. Set `TEXMATH_FUZZ_ITERATIONS` for a
/// longer run.
#[test]
fn random_strings() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let basic: Vec<char> = "$\\{}^_ab12<>&\"' ".chars().collect();
    let rich: Vec<char> = "$\\{}^_ab12<>&\"' ()[]\n.-=|'α~%".chars().collect();
    #[rustfmt::skip]
    let tokens = [
        "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\frac", "\\left(", "\\right)", "\\right.", "\\sqrt", "[", "]", "{", "}",
        "^", "_", "'", "\\text{", "\\mathbb", "\\alpha", "\\sum", "\\lim", "\\hat", "\\not", "\\operatorname*{",
        "\\href{", "\\url", "\\\\", "\\$", "x", "2", " ", "\n", "<", "&", "\"", "\\big|", "\\middle|", "\\binom",
        "\\limits", "\\color{", "\\foo", "0.5", "~", "\\log", "\\,", "\\{",
    ];
    let iterations = std::env::var("TEXMATH_FUZZ_ITERATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(6000);
    for i in 0..iterations {
        let input = match i % 3 {
            0 => rng.string(&basic, 300),
            1 => rng.string(&rich, 300),
            _ => (0..rng.next() % 80).map(|_| tokens[(rng.next() % tokens.len() as u64) as usize]).collect(),
        };
        check_all(&input);
    }
}

#[test]
fn plain_text() {
    let cases = [
        ("$\\alpha$-divergence", "α-divergence"),
        ("$O(n \\log n)$", "O(n log n)"),
        ("$O(n\\log n)$", "O(n log n)"),
        ("$10^{-3}$", "10^-3"),
        ("$\\mathbb{R}^d$", "ℝ^d"),
        ("$x^2$ and $x_i^{n+1}$", "x^2 and x_i^(n+1)"),
        ("$\\mathcal{O}(1/\\sqrt{T})$", "𝒪(1/√T)"),
        ("$\\frac{a+b}{2}$", "(a+b)/2"),
        ("$\\text{softmax}(QK^\\top/\\sqrt{d})$", "softmax(QK^⊤/√d)"),
        ("$\\left( a \\right)$ $\\{0,1\\}^n$", "(a) {0,1}^n"),
        ("$p < 0.05$, $\\geq 90\\%$", "p < 0.05, ≥ 90%"),
        ("$\\sum_{i=1}^n x_i$", "∑_(i=1)^n x_i"),
        ("$\\hat{y}$, $f'$", "y\u{302}, f′"),
        ("costs $5 and $10", "costs $5 and $10"),
        ("bad $x^1^2$ math", "bad $x^1^2$ math"),
    ];
    for (input, expected) in cases {
        assert_eq!(to_plain(input), expected, "{input}");
    }
}
