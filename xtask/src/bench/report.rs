//! The bench JSON's summary and the README's performance table, both computed from the JSON's
//! runs by one function ([`summarize`]), so the table printed after a run, the one
//! `cargo xtask bench --markdown FILE` prints and the README's block cannot disagree.
//!
//! Per workload, side (ours, PyTorch) and mode (user, tuned), each thread count's ms per step
//! is the median over the rounds; the count with the lowest median is that cell's setting.
//! The ratio torch / ours is computed per round between the two cells' settings, and reported
//! as the median of the rounds' ratios with their min and max. A workload is "faster" only
//! when the worst round's ratio is > 1.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

/// The `format` field of the bench JSON this module reads and writes.
pub const FORMAT: &str = "rnn-rs-bench/2";

/// `YYYY-MM-DD HH:MM` (UTC) of `secs` since the Unix epoch.
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hh, mm) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
}

/// The machine's CPU model (Linux `/proc/cpuinfo`, when readable) and logical core count.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    json!({ "cpu": cpu, "cores": cores })
}

/// The median of a non-empty list (the mean of the middle two of an even count).
pub(super) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `{median, min, max}` of a non-empty list.
pub(super) fn spread(v: &[f64]) -> Value {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    json!({ "median": median(v), "min": min, "max": max })
}

/// One cell: a side's runs of a workload in a mode, at its fastest thread count.
struct Cell {
    threads: u64,
    ms: f64,
    by_round: BTreeMap<u64, f64>,
    peak_rss_mib: Option<f64>,
}

fn cell(runs: &[Value], workload: &str, side: &str, mode: &str) -> anyhow::Result<Option<Cell>> {
    let mut groups: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for r in runs {
        if r["workload"] == workload && r["side"] == side && r["mode"] == mode {
            let threads = r["threads"].as_u64().context("a run without `threads`")?;
            groups.entry(threads).or_default().push(r);
        }
    }
    let mut best: Option<Cell> = None;
    for (threads, group) in groups {
        let mut by_round = BTreeMap::new();
        for r in &group {
            let round = r["round"].as_u64().context("a run without `round`")?;
            let ms = r["ms_per_step"]
                .as_f64()
                .context("a run without `ms_per_step`")?;
            by_round.insert(round, ms);
        }
        let ms = median(&by_round.values().copied().collect::<Vec<_>>());
        let peak_rss_mib = group
            .iter()
            .filter_map(|r| r["peak_rss_mib"].as_f64())
            .reduce(f64::max);
        if best.as_ref().is_none_or(|b| ms < b.ms) {
            best = Some(Cell {
                threads,
                ms,
                by_round,
                peak_rss_mib,
            });
        }
    }
    Ok(best)
}

fn cell_json(c: &Option<Cell>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({
            "threads": c.threads,
            "ms_per_step": c.ms,
            "rounds_ms": c.by_round.values().collect::<Vec<_>>(),
            "peak_rss_mib": c.peak_rss_mib,
        }),
    }
}

/// torch / ours per round (the rounds both have): median, min, max and the rounds' values.
fn ratio(torch: &Option<Cell>, ours: &Option<Cell>) -> Value {
    let (Some(t), Some(o)) = (torch, ours) else {
        return Value::Null;
    };
    let rounds: Vec<f64> = o
        .by_round
        .iter()
        .filter_map(|(k, ours_ms)| t.by_round.get(k).map(|torch_ms| torch_ms / ours_ms))
        .collect();
    if rounds.is_empty() {
        return Value::Null;
    }
    let mut out = spread(&rounds);
    out["faster_every_round"] = json!(out["min"].as_f64().is_some_and(|min| min > 1.0));
    out["rounds"] = json!(rounds);
    out
}

/// Our user-mode runs' in-process pairs (`bench-worker --against-one-thread`): each round's
/// median ratio one thread / default, and their median, min and max; null when not measured.
fn paired(runs: &[Value], workload: &str) -> Value {
    let rounds: Vec<f64> = runs
        .iter()
        .filter(|r| r["workload"] == workload && r["side"] == "ours" && r["mode"] == "user")
        .filter_map(|r| r["paired"]["one_thread_over_default"]["median"].as_f64())
        .collect();
    if rounds.is_empty() {
        return Value::Null;
    }
    let mut out = spread(&rounds);
    out["rounds"] = json!(rounds);
    out
}

/// One summary row per workload of `doc["workloads"]`, from `doc["runs"]`: the four cells
/// (`ours_user`, `torch_user`, `ours_tuned`, `torch_tuned`; null where not run) and the two
/// ratios (`ratio_user`, `ratio_tuned`).
pub fn summarize(doc: &Value) -> anyhow::Result<Vec<Value>> {
    let runs = doc["runs"]
        .as_array()
        .context("the JSON has no `runs` list")?;
    let workloads = doc["workloads"]
        .as_array()
        .context("the JSON has no `workloads` list")?;
    workloads
        .iter()
        .map(|w| {
            let name = w["workload"]
                .as_str()
                .context("a workload without a name")?;
            let ours_user = cell(runs, name, "ours", "user")?;
            let torch_user = cell(runs, name, "torch", "user")?;
            let ours_tuned = cell(runs, name, "ours", "tuned")?;
            let torch_tuned = cell(runs, name, "torch", "tuned")?;
            Ok(json!({
                "workload": name,
                "about": w["about"],
                "one_thread_over_default": paired(runs, name),
                "ours_user": cell_json(&ours_user),
                "torch_user": cell_json(&torch_user),
                "ratio_user": ratio(&torch_user, &ours_user),
                "ours_tuned": cell_json(&ours_tuned),
                "torch_tuned": cell_json(&torch_tuned),
                "ratio_tuned": ratio(&torch_tuned, &ours_tuned),
            }))
        })
        .collect()
}

/// `ms (threads)` with three significant figures or so; `-` when not run.
fn ms_cell(c: &Value) -> String {
    let (Some(ms), Some(threads)) = (c["ms_per_step"].as_f64(), c["threads"].as_u64()) else {
        return "-".into();
    };
    let digits = if ms >= 100.0 {
        0
    } else if ms >= 10.0 {
        1
    } else {
        2
    };
    format!("{ms:.digits$} ({threads})")
}

/// `median (min-max)`, the median bold when every round's ratio is > 1; `-` when not run.
fn ratio_cell(r: &Value) -> String {
    let (Some(med), Some(min), Some(max)) =
        (r["median"].as_f64(), r["min"].as_f64(), r["max"].as_f64())
    else {
        return "-".into();
    };
    if min > 1.0 {
        format!("**{med:.2}** ({min:.2}-{max:.2})")
    } else {
        format!("{med:.2} ({min:.2}-{max:.2})")
    }
}

/// The README's performance table (with the paragraph that says how it was measured),
/// generated from a bench JSON of [`FORMAT`].
pub fn markdown(doc: &Value) -> anyhow::Result<String> {
    let summary = summarize(doc)?;
    let runs = doc["runs"]
        .as_array()
        .context("the JSON has no `runs` list")?;
    let distinct = |side: &str, mode: &str, key: &str| -> String {
        let mut v: Vec<String> = runs
            .iter()
            .filter(|r| r["side"] == side && r["mode"] == mode)
            .filter_map(|r| match &r[key] {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect();
        v.sort();
        v.dedup();
        if v.is_empty() {
            "-".into()
        } else {
            v.join(", ")
        }
    };
    let mut torch_versions: Vec<&str> = runs
        .iter()
        .filter(|r| r["side"] == "torch")
        .filter_map(|r| r["torch"].as_str())
        .collect();
    torch_versions.sort_unstable();
    torch_versions.dedup();
    let mut out = String::new();
    out += &format!(
        "`{}` ({} UTC; {}, {} logical cores; burn device `{}`; PyTorch {}). {} alternating \
         rounds: in each, every workload runs ours, then PyTorch; a run's figure is the median \
         of {} timed repeats of at least {} s. A cell is the median over the rounds of ms per \
         step (threads). *User default*: ours as a program that adds rnn-core runs it (no \
         allocator call, rayon's default threads; allocator: {}), PyTorch at its defaults (its \
         own thread count, no flush-to-zero). *Tuned*: ours with the harness's settings \
         (allocator: {}) at its fastest thread count, PyTorch at its fastest tuned thread count \
         with flush-to-zero. torch / ours: the median of the rounds' ratios (min-max over the \
         rounds); above 1 ours is faster, and it is bold only when every round's ratio is.\n\n",
        doc["command"].as_str().unwrap_or("?"),
        doc["started_utc"].as_str().unwrap_or("?"),
        doc["machine"]["cpu"].as_str().unwrap_or("?"),
        doc["machine"]["cores"],
        doc["device"].as_str().unwrap_or("?"),
        if torch_versions.is_empty() {
            "not run".to_string()
        } else {
            torch_versions.join(", ")
        },
        doc["rounds"],
        doc["repeats"],
        doc["min_repeat_s"],
        distinct("ours", "user", "allocator"),
        distinct("ours", "tuned", "allocator"),
    );
    out += "| workload | ours, user default | PyTorch, default | torch / ours, user default \
            | ours, tuned | PyTorch, tuned | torch / ours, tuned | peak RSS MiB (user) |\n";
    out += "| --- | --- | --- | --- | --- | --- | --- | --- |\n";
    let (mut faster_user, mut compared_user) = (0, 0);
    let (mut faster_tuned, mut compared_tuned) = (0, 0);
    for row in &summary {
        for (key, faster, compared) in [
            ("ratio_user", &mut faster_user, &mut compared_user),
            ("ratio_tuned", &mut faster_tuned, &mut compared_tuned),
        ] {
            if let Some(every) = row[key]["faster_every_round"].as_bool() {
                *compared += 1;
                *faster += usize::from(every);
            }
        }
        let rss = row["ours_user"]["peak_rss_mib"]
            .as_f64()
            .map_or("-".into(), |m| format!("{m:.0}"));
        out += &format!(
            "| `{}` {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row["workload"].as_str().unwrap_or("?"),
            row["about"].as_str().unwrap_or(""),
            ms_cell(&row["ours_user"]),
            ms_cell(&row["torch_user"]),
            ratio_cell(&row["ratio_user"]),
            ms_cell(&row["ours_tuned"]),
            ms_cell(&row["torch_tuned"]),
            ratio_cell(&row["ratio_tuned"]),
            rss,
        );
    }
    out += &format!(
        "\nOurs faster than PyTorch in every round: {faster_user} of {compared_user} workloads \
         at the user's defaults, {faster_tuned} of {compared_tuned} tuned.\n"
    );
    let pairs: Vec<String> = summary
        .iter()
        .filter(|row| !row["one_thread_over_default"].is_null())
        .map(|row| {
            let p = &row["one_thread_over_default"];
            format!(
                "`{}` {:.2} ({:.2}-{:.2})",
                row["workload"].as_str().unwrap_or("?"),
                p["median"].as_f64().unwrap_or(f64::NAN),
                p["min"].as_f64().unwrap_or(f64::NAN),
                p["max"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    if !pairs.is_empty() {
        out += &format!(
            "\nRayon's default threads against one thread, in the same worker process (blocks \
             of ~50 ms taking turns, `--against-one-thread`), one thread / default, the median \
             of the rounds' medians (min-max over the rounds; above 1 the default is faster): \
             {}.\n",
            pairs.join(", ")
        );
    }
    Ok(out)
}

/// Reads a bench JSON, refusing other formats by name.
fn read_doc(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    anyhow::ensure!(
        doc["format"] == FORMAT,
        "--markdown: {} is not a bench JSON of format `{FORMAT}` (its `format`: {}; files \
         written before modes and rounds are a bare list of rows)",
        path.display(),
        doc.get("format").map_or("none".into(), Value::to_string)
    );
    Ok(doc)
}

/// The README block's first line for a table generated from `json`.
pub fn begin_marker(json: &str) -> String {
    format!("<!-- bench:begin {json} -->")
}

/// The README block's last line.
pub const END_MARKER: &str = "<!-- bench:end -->";

/// `cargo xtask bench --markdown JSON [--readme README]`: prints the table; with a README,
/// replaces its block (from the `<!-- bench:begin` line to [`END_MARKER`]) by the table
/// between markers naming `json`.
pub fn print_markdown(json: &Path, readme: Option<&Path>) -> anyhow::Result<()> {
    let table = markdown(&read_doc(json)?)?;
    print!("{table}");
    if let Some(readme) = readme {
        let text = std::fs::read_to_string(readme)
            .with_context(|| format!("--readme: reading {}", readme.display()))?;
        let begin = text.find("<!-- bench:begin").with_context(|| {
            format!(
                "--readme: {} has no `<!-- bench:begin` line",
                readme.display()
            )
        })?;
        let end = text[begin..].find(END_MARKER).with_context(|| {
            format!(
                "--readme: {} has no `{END_MARKER}` after its `<!-- bench:begin` line",
                readme.display()
            )
        })? + begin
            + END_MARKER.len();
        let block = format!(
            "{}\n{table}{END_MARKER}",
            begin_marker(&json.display().to_string())
        );
        let new = format!("{}{block}{}", &text[..begin], &text[end..]);
        std::fs::write(readme, new).with_context(|| format!("writing {}", readme.display()))?;
        eprintln!("bench: wrote the table into {}", readme.display());
    }
    Ok(())
}
