//! `paperboy-fuzz`: runs the fuzz targets (`scripts/fuzz` builds and calls it).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use paperboy_fuzz::{Run, TARGETS};

const USAGE: &str = "\
usage: paperboy-fuzz [--inputs N] [--seconds S] [--seed S] [--from N] [--save DIR] [--print] [--list] [TARGET...]

Feeds each target (all by default) mutated real inputs and checks what must hold of each; prints
one JSON line per target. Exits 1 when any input panicked, hung or broke an invariant, 2 on bad
arguments. `--from N --inputs 1` makes input N again (`--print` shows it instead of checking it); progress lines on stderr say where a crash
that killed the process (a stack overflow) happened.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut run = Run { seed: 1, from: 0, inputs: 1_000_000, time: None, save_to: None, every: 100_000 };
    let mut names = Vec::new();
    let mut print_only = false;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Option<String> {
            let value = args.next();
            if value.is_none() {
                eprintln!("{name} needs a value\n{USAGE}");
            }
            value
        };
        let number = |text: Option<String>| text.and_then(|t| t.replace('_', "").parse::<u64>().ok());
        let parsed = match arg.as_str() {
            "--inputs" => number(value("--inputs")).map(|n| run.inputs = n),
            "--seconds" => number(value("--seconds")).map(|n| run.time = Some(Duration::from_secs(n))),
            "--seed" => number(value("--seed")).map(|n| run.seed = n),
            "--from" => number(value("--from")).map(|n| run.from = n),
            "--save" => value("--save").map(|dir| run.save_to = Some(PathBuf::from(dir))),
            "--print" => {
                print_only = true;
                Some(())
            }
            "--list" => {
                for target in TARGETS {
                    println!("{:10} {}", target.name, target.about);
                }
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            name if !name.starts_with('-') => {
                names.push(name.to_owned());
                Some(())
            }
            _ => None,
        };
        if parsed.is_none() {
            eprintln!("bad argument {arg:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let mut chosen = Vec::new();
    for name in &names {
        match paperboy_fuzz::target(name) {
            Some(target) => chosen.push(target),
            None => {
                eprintln!("no target {name:?}; --list shows them");
                return ExitCode::from(2);
            }
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.iter().collect();
    }
    let root = paperboy_fuzz::repository();
    let mut failed = false;
    for target in chosen {
        let seeds = (target.seeds)(&root);
        if seeds.is_empty() {
            eprintln!("{}: no seeds under {}", target.name, root.display());
            return ExitCode::from(2);
        }
        if print_only {
            for index in run.from..run.from + run.inputs {
                let input = paperboy_fuzz::mutate::input(
                    &mut paperboy_fuzz::mutate::Rng::for_input(run.seed, target.name, index),
                    &seeds,
                    target.tokens,
                );
                let mut stdout = std::io::stdout().lock();
                if std::io::Write::write_all(&mut stdout, &input).is_err() {
                    return ExitCode::from(2);
                }
            }
            continue;
        }
        // A thread with the stack a server's worker has (2 MiB), so deep input that would overflow
        // one in production overflows here too.
        let report = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn({
                let run = run.clone();
                move || {
                    paperboy_fuzz::run(target, &seeds, &run, &mut |next| eprintln!("{}: at input {next}", target.name))
                }
            })
            .expect("a thread starts")
            .join()
            .expect("the fuzz loop catches panics");
        let found: Vec<serde_json::Value> = report
            .found
            .iter()
            .map(|(index, problem, saved)| {
                serde_json::json!({"input": index, "problem": problem, "saved": saved.as_ref().map(|p| p.display().to_string())})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "target": target.name, "seed": run.seed, "from": run.from, "inputs": report.inputs,
                "panics": report.panics, "failures": report.failures, "hangs": report.hangs,
                "slowest_ms": report.slowest.0.as_secs_f64() * 1e3, "slowest_input": report.slowest.1, "seconds": report.seconds,
                "inputs_per_second": report.inputs as f64 / report.seconds.max(1e-9), "found": found,
            })
        );
        failed |= report.panics + report.failures + report.hangs > 0;
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
