//! CI's short fuzzing pass: every target on its first inputs (`scripts/fuzz` runs a million each),
//! and every case kept in `regressions/` still holds.

use paperboy_fuzz::{Run, TARGETS};

/// Inputs per target in the short pass, sized for an unoptimised build (a few seconds each).
fn short(target: &str) -> u64 {
    match target {
        "tex" => 3_000,
        "oai-xml" | "atom-xml" => 4_000,
        "mail" => 3_000,
        _ => 10_000,
    }
}

#[test]
fn every_target_survives_a_short_pass() {
    let root = paperboy_fuzz::repository();
    for target in TARGETS {
        let seeds = (target.seeds)(&root);
        assert!(seeds.len() >= 3, "{}: its seeds are missing ({} found)", target.name, seeds.len());
        let run = Run { seed: 1, from: 0, inputs: short(target.name), time: None, save_to: None, every: 0 };
        let report = paperboy_fuzz::run(target, &seeds, &run, &mut |_| {});
        assert_eq!(report.inputs, run.inputs);
        assert!(report.found.is_empty(), "{}: {:?}", target.name, report.found);
    }
}

/// Each file `regressions/TARGET/NAME` (gzip when it ends in `.gz`) is an input that once failed, or one built to probe a
/// known danger (deep nesting, header injection); each must pass its target's check.
#[test]
fn kept_cases_still_pass() {
    let dir = paperboy_fuzz::repository().join("crates/paperboy_fuzz/regressions");
    let mut checked = 0;
    for target in TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(target.name)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let mut input = std::fs::read(&path).unwrap();
            if path.extension().is_some_and(|e| e == "gz") {
                let mut plain = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&input[..]), &mut plain).unwrap();
                input = plain;
            }
            assert_eq!((target.check)(&input), Ok(()), "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 5, "the kept cases are missing: {checked} found");
}
