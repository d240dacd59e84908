//! The download path against a local HTTP server on 127.0.0.1 serving the real archives that
//! the tests found (`common::mnist_dir`); no real internet host is ever contacted.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use rnn_data::checksums::{MNIST_FILES, TRAIN_LABELS};
use rnn_data::{DataError, Downloader, FailureReason, Mnist};

/// Serves, per connection and `Connection: close`:
/// `/good/<name>` the real archive, `/tampered/<name>` it with one byte flipped,
/// `/missing/<name>` a 404, `/cut/<name>` the full `Content-Length` but only half the body.
/// Bounded: it stops after 64 connections.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(stream) = stream else { continue };
            let _ = handle(stream);
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn handle(mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (route, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let body = MNIST_FILES
        .iter()
        .find(|f| f.name == name)
        .map(|f| common::archive(f.name));
    let (Some(mut body), "good" | "tampered" | "cut") = (body, route) else {
        stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
        )?;
        return Ok(());
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    match route {
        "tampered" => {
            let mid = body.len() / 2;
            body[mid] ^= 0x01;
            stream.write_all(&body)?;
        }
        "cut" => {
            stream.write_all(&body[..body.len() / 2])?;
            stream.flush()?;
            // Dropping the stream closes the connection mid-body.
        }
        _ => stream.write_all(&body)?,
    }
    Ok(())
}

/// Every entry of `dir` (temporary files included).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A base URL on which nothing listens (connection refused).
fn refused() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/mnist")
}

fn only_failure(err: DataError) -> rnn_data::MirrorFailure {
    match err {
        DataError::DownloadFailed { mut failures, .. } if failures.len() == 1 => failures.remove(0),
        other => panic!("expected one mirror failure, got {other}"),
    }
}

#[test]
fn a_good_mirror_verifies_and_renames_into_place() {
    let base = serve();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new/sub"); // created on demand
    let path = Downloader::with_mirrors([format!("{base}/good")])
        .fetch(&TRAIN_LABELS, &dir)
        .unwrap();
    assert_eq!(path, dir.join(TRAIN_LABELS.name));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        common::archive(TRAIN_LABELS.name)
    );
    assert_eq!(
        entries(&dir),
        vec![TRAIN_LABELS.name.to_owned()],
        "no temp file left"
    );
}

#[test]
fn a_tampered_file_leaves_nothing_and_says_so() {
    let base = serve();
    let tmp = tempfile::tempdir().unwrap();
    let mirror = format!("{base}/tampered/");
    let err = Downloader::with_mirrors([mirror.clone()])
        .fetch(&TRAIN_LABELS, tmp.path())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&mirror) && msg.contains("checksum mismatch"),
        "{msg}"
    );
    let failure = only_failure(err);
    assert_eq!(failure.mirror, mirror);
    assert!(matches!(
        failure.reason,
        FailureReason::Checksum { ref expected, .. } if expected == TRAIN_LABELS.sha256
    ));
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
fn a_404_leaves_nothing_and_says_so() {
    let base = serve();
    let tmp = tempfile::tempdir().unwrap();
    let mirror = format!("{base}/missing");
    let err = Downloader::with_mirrors([mirror.clone()])
        .fetch(&TRAIN_LABELS, tmp.path())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&mirror) && msg.contains("HTTP status 404"),
        "{msg}"
    );
    assert_eq!(only_failure(err).reason, FailureReason::Http(404));
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn a_connection_cut_mid_body_leaves_nothing_and_says_so() {
    let base = serve();
    let tmp = tempfile::tempdir().unwrap();
    let mirror = format!("{base}/cut");
    let err = Downloader::with_mirrors([mirror.clone()])
        .fetch(&TRAIN_LABELS, tmp.path())
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&mirror), "{msg}");
    let failure = only_failure(err);
    assert!(
        matches!(
            failure.reason,
            FailureReason::Connection(_) | FailureReason::CutShort { .. }
        ),
        "{failure}"
    );
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
    eprintln!("cut connection reported as: {failure}");
}

#[test]
fn mirrors_are_tried_in_turn() {
    let base = serve();
    let tmp = tempfile::tempdir().unwrap();
    let downloader = Downloader::with_mirrors([
        refused(),
        format!("{base}/missing"),
        format!("{base}/tampered"),
        format!("{base}/cut"),
        format!("{base}/good"),
    ]);
    let path = downloader.fetch(&TRAIN_LABELS, tmp.path()).unwrap();
    assert_eq!(
        std::fs::read(path).unwrap(),
        common::archive(TRAIN_LABELS.name)
    );
    assert_eq!(entries(tmp.path()), vec![TRAIN_LABELS.name.to_owned()]);
}

#[test]
fn no_mirror_reachable_says_how_to_place_files_by_hand() {
    let base = serve();
    let tmp = tempfile::tempdir().unwrap();
    let refused = refused();
    let downloader = Downloader::with_mirrors([refused.clone(), format!("{base}/missing")]);
    let err = downloader.fetch(&TRAIN_LABELS, tmp.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&refused) && msg.contains("connection failed"),
        "{msg}"
    );
    assert!(msg.contains("HTTP status 404"), "{msg}");
    assert!(
        msg.contains("by hand") && msg.contains("MNIST_DIR"),
        "{msg}"
    );
    for f in MNIST_FILES {
        assert!(msg.contains(f.name) && msg.contains(f.sha256), "{msg}");
    }
    assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
    assert!(entries(tmp.path()).is_empty());

    let err = Downloader::with_mirrors(Vec::<String>::new())
        .fetch(&TRAIN_LABELS, tmp.path())
        .unwrap_err();
    assert!(err.to_string().contains("no mirror configured"), "{err}");
}

#[test]
fn load_or_download_fetches_only_what_is_missing() {
    let base = serve();
    let tmp = tempfile::tempdir().unwrap();
    // One file already there, unpacked: it is not downloaded again.
    let labels = rnn_data::idx::decompress("l", &common::archive(TRAIN_LABELS.name))
        .unwrap()
        .into_owned();
    std::fs::write(tmp.path().join(TRAIN_LABELS.unpacked_name()), labels).unwrap();
    let downloader = Downloader::with_mirrors([format!("{base}/missing"), format!("{base}/good")]);
    let m = Mnist::load_or_download(tmp.path(), &downloader).unwrap();
    assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
    let mut expected: Vec<String> = MNIST_FILES
        .iter()
        .map(|f| {
            if f == &TRAIN_LABELS {
                f.unpacked_name()
            } else {
                f.name
            }
        })
        .map(str::to_owned)
        .collect();
    expected.sort();
    assert_eq!(entries(tmp.path()), expected);
}
