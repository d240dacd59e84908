//! `rnn-user-program [--repeats N] [--min-repeat-s S]`: times the book's MNIST training step
//! (`rnn_user_program::MnistTraining`) as a user's program runs it, with no tuning, and prints
//! one JSON line: `ms_per_step` (the median of N timed repeats of at least S seconds, after
//! one warm-up step and one step to size the repeats, as `cargo xtask bench` does), its min
//! and max, the loss before the first and after the last step, and the peak resident memory.

use std::time::Instant;

use rnn_user_program::MnistTraining;

fn main() {
    if let Err(e) = run() {
        eprintln!("rnn-user-program: {e}");
        std::process::exit(2);
    }
}

/// `--repeats` (an integer >= 1) and `--min-repeat-s` (seconds in (0, 86400]).
fn parse_args() -> Result<(usize, f64), String> {
    let (mut repeats, mut min_repeat_s) = (3usize, 0.5f64);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag}: expected a value after it"))?;
        match flag.as_str() {
            "--repeats" => {
                repeats =
                    value.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
                        format!("--repeats: expected an integer >= 1, got `{value}`")
                    })?
            }
            "--min-repeat-s" => {
                min_repeat_s = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                    .ok_or_else(|| {
                        format!("--min-repeat-s: expected seconds in (0, 86400], got `{value}`")
                    })?
            }
            _ => {
                return Err(format!(
                    "unknown argument `{flag}`; expected --repeats N or --min-repeat-s S"
                ));
            }
        }
    }
    Ok((repeats, min_repeat_s))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (repeats, min_repeat_s) = parse_args()?;
    let device = rnn_core::device::default_device()?;
    let mut training = MnistTraining::new(&device)?;
    let loss_first = training.step()?; // warm-up
    let t0 = Instant::now();
    training.step()?;
    let iters = ((min_repeat_s / t0.elapsed().as_secs_f64().max(1e-6)) as usize).max(1);
    let mut per_step_ms = Vec::with_capacity(repeats);
    let mut loss_last = f32::NAN;
    for _ in 0..repeats {
        let t0 = Instant::now();
        for _ in 0..iters {
            loss_last = training.step()?;
        }
        per_step_ms.push(t0.elapsed().as_secs_f64() * 1e3 / iters as f64);
    }
    if !(loss_first.is_finite() && loss_last.is_finite()) {
        return Err(format!("the loss is not finite: {loss_first} then {loss_last}").into());
    }
    per_step_ms.sort_by(f64::total_cmp);
    let peak_rss_mib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let kb = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            kb.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or("null".to_string(), |kb| format!("{}", kb / 1024.0));
    println!(
        "{{\"device\": \"{}\", \"threads\": {}, \"ms_per_step\": {}, \"min_ms\": {}, \
         \"max_ms\": {}, \"iters_per_repeat\": {iters}, \"repeats\": {repeats}, \
         \"loss_first\": {loss_first}, \"loss_last\": {loss_last}, \"peak_rss_mib\": {peak_rss_mib}}}",
        rnn_core::device::device_name(&device),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        per_step_ms[per_step_ms.len() / 2],
        per_step_ms[0],
        per_step_ms[per_step_ms.len() - 1],
    );
    Ok(())
}
