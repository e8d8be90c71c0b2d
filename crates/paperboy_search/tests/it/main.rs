//! The full-text index over one real announcement day of the sample corpus.

use std::{path::Path, sync::OnceLock};

use chrono::NaiveDate;
use expect_test::{Expect, expect};
use paperboy_arxiv::jsonl::JsonlReader;
use paperboy_domain::{Paper, SearchQuery, query::CategoryFilter};
use paperboy_search::{Error, Filters, FullTextIndex, IndexDoc, Ranking, SearchRequest, Sort};

const DAY: &str = "2026-06-16";

fn papers() -> &'static Vec<Paper> {
    static PAPERS: OnceLock<Vec<Paper>> = OnceLock::new();
    PAPERS.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../data/sample/arxiv-cs/{DAY}.jsonl.gz"));
        JsonlReader::open(&path).unwrap().map(Result::unwrap).collect()
    })
}

fn index_doc(paper: &Paper) -> (String, Vec<&'static str>) {
    let mut categories: Vec<&'static str> = paper.categories.iter().map(|c| c.as_str()).collect();
    categories.extend(paper.categories.iter().map(|c| c.archive()));
    (paper.id.to_string(), categories)
}

fn index() -> &'static FullTextIndex {
    static INDEX: OnceLock<FullTextIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let index = FullTextIndex::in_memory(Ranking::default()).unwrap();
        let mut writer = index.writer_with_threads(50_000_000, 1).unwrap();
        for (i, paper) in papers().iter().enumerate() {
            let (key, categories) = index_doc(paper);
            // Spread the day's papers over a week so date filters and date order have something to do.
            let day = NaiveDate::from_ymd_opt(2026, 6, 10 + (i % 7) as u32);
            writer
                .add(&IndexDoc {
                    key: &key,
                    title: &paper.title,
                    body: &paper.abstract_text,
                    authors: &paper.authors,
                    categories,
                    day,
                    tie_break: paper.id.ordinal(),
                })
                .unwrap();
        }
        writer.commit(papers().len() as i64).unwrap();
        index.reload().unwrap();
        index
    })
}

fn title_of(key: &str) -> String {
    let paper = papers().iter().find(|p| p.id.to_string() == key).unwrap();
    paper.title.chars().take(70).collect()
}

fn request<'a>(query: &'a SearchQuery, raw: &'a str) -> SearchRequest<'a> {
    SearchRequest {
        query,
        raw,
        filters: Filters::default(),
        sort: Sort::Relevance,
        limit: 5,
        offset: 0,
        count_total: true,
    }
}

#[track_caller]
fn check_with(raw: &str, adjust: impl FnOnce(&mut SearchRequest<'_>), expect: Expect) {
    let rendered = match SearchQuery::parse(raw) {
        Err(err) => format!("query error: {err}"),
        Ok(query) => {
            let mut req = request(&query, raw);
            adjust(&mut req);
            match index().search(&req) {
                Err(err) => format!("search error: {err}"),
                Ok(results) => {
                    let mut out = format!("{} matches\n", results.total.unwrap());
                    for hit in &results.hits {
                        out.push_str(&format!(
                            "{}{} {}\n",
                            if hit.pinned { "* " } else { "" },
                            hit.key,
                            title_of(&hit.key)
                        ));
                    }
                    out
                }
            }
        }
    };
    expect.assert_eq(&rendered);
}

#[track_caller]
fn check(raw: &str, expect: Expect) {
    check_with(raw, |_| {}, expect);
}

#[test]
fn words_rank_by_bm25() {
    check(
        "diffusion",
        expect![[r#"
            47 matches
            2606.15614 Variational Test-time Optimization for Diffusion Synchronization
            2606.15389 Timestep Rescheduling in Diffusion Inversion
            2606.15590 Unlocking Diffusion Hierarchies: Adaptive Timestep Selection for Zero-
            2606.16188 teasr: training-efficient any-step diffusion transformer for real-worl
            2606.16048 PointDiffusion: Diffusion-Based Scene Completion in the Point Cloud Do
        "#]],
    );
}

#[test]
fn phrases_match_in_order() {
    check(
        "\"vision transformer\"",
        expect![[r#"
            8 matches
            2606.14753 Beyond Self-Attention: Sub-Quadratic Vision Transformers for Fast Imag
            2606.14735 UtVAA: Ultra-tiny Vision Transformer with Affix Attention for Mobile I
            2606.14720 AI for Maritime Security: Comparative Evaluation of CNN and Vision Tra
            2606.14757 Spatial Priors via Space Filling Curves for Small and Limited Data Vis
            2606.15118 Multi-view feature High-order Fusion for Space Weak Object Detection a
        "#]],
    );
}

#[test]
fn exclusion_removes_matches() {
    check(
        "diffusion -video -image",
        expect![[r#"
            14 matches
            2606.15614 Variational Test-time Optimization for Diffusion Synchronization
            2606.16048 PointDiffusion: Diffusion-Based Scene Completion in the Point Cloud Do
            2606.16925 RAID: Semantic Graph Diffusion for True Cold-Start and Cross-Lingual F
            2606.16568 Fast When, Careful Who: Dual-Process Multiparty Turn-Taking with Diffu
            2606.15889 SiGnature: Explicit Motion Diffusion for Stylized Semantic Gesture
        "#]],
    );
}

#[test]
fn field_prefixes_restrict_the_field() {
    check(
        "ti:segmentation",
        expect![[r#"
        28 matches
        2606.14754 Sub-Semantic Image Segmentation
        2606.15632 Open-World Video Segmentation
        2606.15305 CoMNeT: A MedNeXt-CorrDiff Framework for Volumetric Brain Tumor Segmen
        2606.15409 Segmentation-based Detection for Efficient Multi-Task Spacecraft Perce
        2606.16153 A Comprehensive Survey of Medical Image Segmentation: Challenges, Benc
    "#]],
    );
    check(
        "au:khemani",
        expect![[r#"
        1 matches
        2606.14716 RAMS: Resource-Adaptive and Detection-Conditioned Model Switching for 
    "#]],
    );
    check(
        "abs:\"kv cache\"",
        expect![[r#"
        4 matches
        2606.17034 KVEraser: Learning to Steer KV Cache for Efficient Localized Context E
        2606.14782 Last But Not Least: Boundary Attention CalibratiON for Multimodal KV C
        2606.14783 The Vision Encoder as a Privacy Boundary: Visual-Token Side Channels i
        2606.15199 CogGuard: Cognitive and Operational Profiling for Proactive Warning in
    "#]],
    );
}

#[test]
fn abs_ignores_words_only_in_the_title() {
    // "Interpolation" is in 2606.14725's title but not in its abstract.
    check(
        "ti:interpolation",
        expect![[r#"
        1 matches
        2606.14725 Interpolation between Convolution and Attention via K-Nearest Neighbor
    "#]],
    );
    check(
        "abs:interpolation",
        expect![[r#"
        5 matches
        2606.15967 CRIS: Cross-Plane Self-Supervised Isotropic Restoration for Anisotropi
        2606.16240 Creative Collision: Directorial Persona Steering and Competition in La
        2606.16624 MR-GVNO: A Geometry-Aware Variational Physics-Informed Neural Operator
        2606.16067 Stepwise Token Selection for Efficient Multimodal Large Language Model
        2606.17027 MeshLoom: Feed-Forward Non-Rigid Registration of Mesh Sequences
    "#]],
    );
}

#[test]
fn categories_filter_from_the_query_and_from_filters() {
    check(
        "attention cat:cs.CL",
        expect![[r#"
        14 matches
        2606.15378 Rethinking the Role of Efficient Attention in Hybrid Architectures
        2606.14782 Last But Not Least: Boundary Attention CalibratiON for Multimodal KV C
        2606.15070 Stop When Further Reasoning Won't Help: Attention-State Adaptive Gener
        2606.16093 Long-Context Modeling via GSS-Transformer Hybrid Architecture with Lea
        2606.15079 Ling and Ring 2.6 Technical Report: Efficient and Instant Agentic Inte
    "#]],
    );
    check_with(
        "attention",
        |req| req.filters.categories = vec![CategoryFilter::parse("cs.CL").unwrap()],
        expect![[r#"
            14 matches
            2606.15378 Rethinking the Role of Efficient Attention in Hybrid Architectures
            2606.14782 Last But Not Least: Boundary Attention CalibratiON for Multimodal KV C
            2606.15070 Stop When Further Reasoning Won't Help: Attention-State Adaptive Gener
            2606.16093 Long-Context Modeling via GSS-Transformer Hybrid Architecture with Lea
            2606.15079 Ling and Ring 2.6 Technical Report: Efficient and Instant Agentic Inte
        "#]],
    );
}

#[test]
fn date_filters_and_date_order() {
    check_with(
        "segmentation",
        |req| {
            req.sort = Sort::Date;
            req.filters.since = NaiveDate::from_ymd_opt(2026, 6, 15);
            req.filters.until = NaiveDate::from_ymd_opt(2026, 6, 16);
        },
        expect![[r#"
            13 matches
            2606.16573 Transformation-driven generation of comparable projection images from 
            2606.16180 To forget is to preserve: Machine Unlearning for 3D medical image segm
            2606.16084 Rhythm of the Deep: A Computational-Linguistic Test of Duality of Patt
            2606.15409 Segmentation-based Detection for Efficient Multi-Task Spacecraft Perce
            2606.15059 A Practical Evaluation Method for Long-Form Simultaneous Speech-to-Spe
        "#]],
    );
}

#[test]
fn an_exact_id_or_title_is_pinned_first() {
    check(
        "2606.14725",
        expect![[r#"
        1 matches
        * 2606.14725 Interpolation between Convolution and Attention via K-Nearest Neighbor
    "#]],
    );
    check(
        "arXiv:2606.14725v2",
        expect![[r#"
        1 matches
        * 2606.14725 Interpolation between Convolution and Attention via K-Nearest Neighbor
    "#]],
    );
    check(
        "interpolation between convolution and attention via k-nearest neighbors",
        expect![[r#"
            226 matches
            * 2606.14725 Interpolation between Convolution and Attention via K-Nearest Neighbor
            2606.15655 Advanced Machine Learning and Deep Learning Techniques for Enhanced Ca
            2606.16274 GraphWorld: Long-Horizon Planning with World Models for End-to-End Aut
            2606.16240 Creative Collision: Directorial Persona Steering and Competition in La
            2606.16093 Long-Context Modeling via GSS-Transformer Hybrid Architecture with Lea
        "#]],
    );
}

#[test]
fn stop_words_alone_are_a_clear_error() {
    check(
        "the of and",
        expect![[
            r#"search error: the query has no searchable words (only very common words such as "the", or symbols)"#
        ]],
    );
    check(
        "💡🔥",
        expect![[
            r#"search error: the query has no searchable words (only very common words such as "the", or symbols)"#
        ]],
    );
}

#[test]
fn category_only_and_exclusion_only_queries_list_by_date() {
    check(
        "cat:cs.GR",
        expect![[r#"
        12 matches
        2606.14721 DC-Motion: Decoupling Semantics and Details via Discrete-Continuous To
        2606.14988 Toward Richer Material Generation via Procedural Data Enhancement
        2606.15238 HairLRM: Strand-based Hair Modeling via Large Reconstruction Models
        2606.15924 TurboGS: Accelerating 3D Gaussian Splatting via Error-Guided Sparse Pi
        2606.15966 VEPHand: View-Efficient Photometric Hand Performance Capture at Scale
    "#]],
    );
    check(
        "-cat:cs.CV",
        expect![[r#"
        292 matches
        2606.14832 PhoneHarness: Harnessing Phone-Use Agents through Mixed GUI, CLI, and 
        2606.14838 A Definition of Good Explanations and the Challenges Explaining LLM Ou
        2606.14867 Evaluating the Robustness of Proof Autoformalization in Lean 4
        2606.14875 Context Compression Is Not One Thing: Readable Symbolic Re-expression 
        2606.14885 Dr-DCI: Scaling Direct Corpus Interaction via Dynamic Workspace Expans
    "#]],
    );
}

#[test]
fn multi_token_words_are_phrases() {
    check(
        "vision-language",
        expect![[r#"
            53 matches
            2606.14728 FUSE: Quantifying Uncertainty in Vision-Language Models by Bayesian Fu
            2606.14883 Understanding Cross-Modal Contributions in Continual Vision-Language M
            2606.17020 FusionRS: A Large-Scale RGB-Infrared Remote Sensing Dataset for Dual-M
            2606.14752 X-Tokenizer: A Multimodal Action Tokenizer for Vision-Language-Action 
            2606.15202 Comparing Human Gaze and Vision-Language Model Attention in Safety-Rel
        "#]],
    );
}

#[test]
fn an_index_on_disk_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = FullTextIndex::open(dir.path(), Ranking::default()).unwrap();
        let mut writer = index.writer(50_000_000).unwrap();
        let paper = &papers()[0];
        let (key, categories) = index_doc(paper);
        writer
            .upsert(&IndexDoc {
                key: &key,
                title: &paper.title,
                body: &paper.abstract_text,
                authors: &paper.authors,
                categories,
                day: None,
                tie_break: 0,
            })
            .unwrap();
        writer.commit(42).unwrap();
    }
    let index = FullTextIndex::open(dir.path(), Ranking::default()).unwrap();
    assert_eq!(index.indexed_seq().unwrap(), 42);
    assert_eq!(index.num_docs(), 1);
    let query = SearchQuery::parse("edge").unwrap();
    assert_eq!(index.search(&request(&query, "edge")).unwrap().hits.len(), 1);
    assert!(matches!(index.writer(50_000_000).map(|_| ()), Ok(())));
}

#[test]
fn a_second_writer_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let index = FullTextIndex::open(dir.path(), Ranking::default()).unwrap();
    let _writer = index.writer(50_000_000).unwrap();
    let err = index.writer(50_000_000).err().unwrap();
    assert!(matches!(err, Error::Locked(_)), "{err}");
}

/// An index of hand-made documents (key, title, abstract), padded with the sample day so that
/// word statistics are real.
fn small_index(ranking: Ranking, docs: &[(&str, &str, &str)]) -> FullTextIndex {
    let index = FullTextIndex::in_memory(ranking).unwrap();
    let mut writer = index.writer_with_threads(50_000_000, 1).unwrap();
    let padding = papers().iter().map(|p| (p.id.to_string(), p.title.as_str(), p.abstract_text.as_str()));
    let docs = docs.iter().map(|(k, t, a)| ((*k).to_owned(), *t, *a)).chain(padding);
    for (key, title, body) in docs {
        writer
            .add(&IndexDoc { key: &key, title, body, authors: &[], categories: vec![], day: None, tie_break: 0 })
            .unwrap();
    }
    writer.commit(1).unwrap();
    index.reload().unwrap();
    index
}

fn top_keys(index: &FullTextIndex, raw: &str, limit: usize, offset: usize) -> Vec<String> {
    let query = SearchQuery::parse(raw).unwrap();
    let request = SearchRequest { limit, offset, ..request(&query, raw) };
    index.search(&request).unwrap().hits.into_iter().map(|h| h.key).collect()
}

/// The case of issue #16: a title holding one of two words outranked abstracts that say the two
/// words together. With the proximity boost the phrase wins; without it (the check that this test
/// can fail) the title does.
#[test]
fn words_standing_together_outrank_words_apart() {
    let docs = [
        (
            "apart",
            "Degenerating to SDMA: When Multiple Access Stops Paying Off",
            "We study multiple access for uplink users. The performance of rate splitting is compared with \
             space division multiple access under imperfect channel knowledge at the base station.",
        ),
        (
            "together",
            "Training Deep Networks on Long Sequences",
            "Models trained on long sequences show a performance degeneration as context grows. We trace it to \
             attention entropy and propose a simple fix.",
        ),
    ];
    let without = small_index(Ranking { pair_boost: 0.0, triple_boost: 0.0, ..Ranking::default() }, &docs);
    assert_eq!(top_keys(&without, "performance degeneration", 1, 0), ["apart"], "plain BM25 prefers the title");
    let with = small_index(Ranking::default(), &docs);
    assert_eq!(top_keys(&with, "performance degeneration", 1, 0), ["together"]);
    // Only plain words get the boost: a quoted phrase already requires the words together.
    assert_eq!(top_keys(&with, "\"performance degeneration\"", 5, 0), ["together"]);
}

/// An explanation adds up: each word's part plus what the words together added is the score
/// the document ranked by; a document with the words apart gains nothing for proximity.
#[test]
fn an_explanation_adds_up_to_the_score() {
    let docs = [
        ("apart", "Degenerating to SDMA", "The performance of rate splitting under imperfect channel knowledge."),
        ("together", "Training on Long Sequences", "Models show a performance degeneration as context grows."),
    ];
    let index = small_index(Ranking::default(), &docs);
    let query = SearchQuery::parse("performance degeneration").unwrap();
    let results = index.search(&SearchRequest { limit: 20, ..request(&query, "performance degeneration") }).unwrap();
    let keys: Vec<&str> = results.hits.iter().map(|h| h.key.as_str()).collect();
    let explained = index.explain(&query, &keys).unwrap();
    assert_eq!(explained.len(), keys.len());
    for hit in &results.hits {
        let why = &explained[&hit.key];
        let sum: f32 = why.terms.iter().map(|t| t.score).sum::<f32>() + why.proximity;
        assert!((sum - hit.score).abs() <= 1e-3 * hit.score.max(1.0), "{}: {why:?} vs {}", hit.key, hit.score);
    }
    let together = &explained["together"];
    let mut terms: Vec<&str> = together.terms.iter().map(|t| t.term.as_str()).collect();
    terms.sort();
    assert_eq!(terms, ["degeneration", "performance"]);
    assert!(together.proximity > 0.0);
    assert_eq!(explained["apart"].proximity, 0.0);
    // Past five words the boost is off (its phrase scorers cost more than the whole search).
    let long = SearchQuery::parse("models show a performance degeneration as context grows").unwrap();
    assert!(index.explain(&long, &["together"]).unwrap()["together"].proximity == 0.0);
    // Fields and phrases are named as the query wrote them.
    let query = SearchQuery::parse("ti:training \"performance degeneration\"").unwrap();
    let mut terms: Vec<String> =
        index.explain(&query, &["together"]).unwrap()["together"].terms.iter().map(|t| t.term.clone()).collect();
    terms.sort();
    assert_eq!(terms, ["\"performance degeneration\"", "ti:training"]);
}

/// Pages are slices of one ranking: the boost re-scores the same best matches however deep the
/// pages reach (past the re-scored window too), so no result is shown twice or skipped.
#[test]
fn proximity_pages_are_slices_of_one_ranking() {
    let index = index();
    for raw in ["image segmentation model", "large language models reasoning"] {
        let all = top_keys(index, raw, 200, 0);
        assert_eq!(all.len(), 200, "{raw}");
        let paged: Vec<String> = (0..10).flat_map(|page| top_keys(index, raw, 20, page * 20)).collect();
        assert_eq!(paged, all, "{raw}");
    }
}
