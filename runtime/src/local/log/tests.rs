use super::*;

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(|line| line[22..].to_owned())
        .collect()
}

#[test]
fn lines_get_the_utc_prefix_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = InstanceLog::new(dir.path().join("i.log"), 1 << 20);
    log.write_line(b"hello\r");
    log.write_line(b"2020/10/15 12:04:40 # {\"t\":\"listen\"}");
    let text = String::from_utf8(read_tail(&dir.path().join("i.log"), None).unwrap()).unwrap();
    let all: Vec<&str> = text.lines().collect();
    assert!(has_prefix(all[0]), "{text}");
    assert!(all[0].ends_with("# hello"));
    assert_eq!(all[1], "2020/10/15 12:04:40 # {\"t\":\"listen\"}");
}

#[test]
fn lines_of_go_s_standard_logger_keep_their_one_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let log = InstanceLog::new(dir.path().join("i.log"), 1 << 20);
    // waved 0.26.3 (`uv pip install h2o-wave==0.26.3`), as it prints its lines ...
    log.write_line(b"2026/12/04 22:54:06 # {\"address\":\"127.0.0.1:10557\",\"t\":\"listen\"}");
    // ... and Go's standard logger without the `#`, with and without microseconds.
    log.write_line(b"2022/03/04 05:06:07 http: superfluous response.WriteHeader call");
    log.write_line(b"2022/03/04 05:06:07.123456 # {\"t\":\"app_add\"}");
    // A page change as waved logs it (`*`), seen in a JVM app's log before this rule.
    log.write_line(b"2026/12/04 23:14:47 * /a5d7 {\"d\":[]}");
    // Not stamps: a date in the text, a bare stamp.
    log.write_line(b"2022/03/04 is the day");
    log.write_line(b"2022/03/04 05:06:07");
    let text = String::from_utf8(read_tail(&dir.path().join("i.log"), None).unwrap()).unwrap();
    let all: Vec<&str> = text.lines().collect();
    assert_eq!(
        &all[..4],
        [
            "2026/12/04 22:54:06 # {\"address\":\"127.0.0.1:10557\",\"t\":\"listen\"}",
            "2022/03/04 05:06:07 # http: superfluous response.WriteHeader call",
            "2022/03/04 05:06:07 # {\"t\":\"app_add\"}",
            "2026/12/04 23:14:47 # * /a5d7 {\"d\":[]}",
        ]
    );
    assert!(has_prefix(all[4]) && all[4].ends_with("# 2022/03/04 is the day"));
    assert!(has_prefix(all[5]) && all[5].ends_with("# 2022/03/04 05:06:07"));
    assert!(
        all.iter().all(|line| line.matches(" # ").count() == 1),
        "{text}"
    );
}

#[test]
fn tail_counts_lines_from_the_end_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.log");
    let log = InstanceLog::new(path.clone(), 8192);
    for n in 0..400 {
        log.write_line(format!("line {n}").as_bytes());
    }
    let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
    assert!(size(&path) + size(&older(&path)) <= 8192);
    assert_eq!(
        lines(&read_tail(&path, Some(3)).unwrap()),
        ["line 397", "line 398", "line 399"]
    );
    assert!(read_tail(&path, Some(0)).unwrap().is_empty());
    let everything = lines(&read_tail(&path, None).unwrap());
    assert_eq!(everything.last().unwrap(), "line 399");
    assert!(everything.len() < 400, "the oldest lines were dropped");
    let first: usize = everything[0]["line ".len()..].parse().unwrap();
    assert_eq!(
        everything.len(),
        400 - first,
        "no gap between the two files"
    );
}

#[test]
fn secrets_printed_by_an_app_are_masked() {
    let dir = tempfile::tempdir().unwrap();
    let log = InstanceLog::new(dir.path().join("i.log"), 1 << 20);
    log.open(vec!["s3cr3t-value".into()]);
    log.write_line(b"token=s3cr3t-value!");
    let text = String::from_utf8(read_tail(&dir.path().join("i.log"), None).unwrap()).unwrap();
    assert!(!text.contains("s3cr3t-value"));
    assert!(text.contains("token=[redacted]!"));
}

#[tokio::test]
async fn follow_streams_new_lines_until_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(InstanceLog::new(dir.path().join("i.log"), 1 << 20));
    log.open(Vec::new());
    log.write_line(b"before");
    let mut stream = log.read(Some(10), true).unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.ends_with(b"before\n"));
    log.write_line(b"after");
    let second = stream.next().await.unwrap().unwrap();
    assert!(second.ends_with(b"after\n"));
    log.close();
    assert!(stream.next().await.is_none());
    // Not following, or nothing to follow: the stream ends after the tail.
    let rest: Vec<_> = log.read(None, true).unwrap().collect().await;
    assert_eq!(rest.len(), 1);
}

#[tokio::test]
async fn a_crash_that_repeats_the_previous_one_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.log");
    let log = InstanceLog::new(path.clone(), 1 << 20);
    let traceback = include_bytes!("../diagnose/wave-typeerror.txt");
    let count = traceback
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    // The first crash is written whole.
    let first = RunOutput::new("app", None);
    log.pump(&traceback[..], Some(&first)).await;
    let previous = log.finish_crash(&first);
    assert_eq!(previous.len(), count);
    // The same again: one line.
    let second = RunOutput::new("app", Some(previous.clone()));
    log.pump(&traceback[..], Some(&second)).await;
    let previous = log.finish_crash(&second);
    let text = String::from_utf8(read_tail(&path, None).unwrap()).unwrap();
    assert_eq!(text.matches("TypeError: can only").count(), 1, "{text}");
    assert!(text.ends_with(&format!(
        "q8s: the app printed the same {count} lines as at its previous crash\n"
    )));
    // A run that starts the same and then differs is written whole.
    let third = RunOutput::new("app", Some(previous.clone()));
    let mut other = traceback[..traceback.len() - 20].to_vec();
    other.extend_from_slice(b"\nValueError: other\n");
    log.pump(&other[..], Some(&third)).await;
    log.finish_crash(&third);
    let text = String::from_utf8(read_tail(&path, None).unwrap()).unwrap();
    assert_eq!(text.matches("Traceback (most recent").count(), 2, "{text}");
    assert!(text.ends_with("# ValueError: other\n"));
    // A run that repeats the beginning and then answers is written when it answers.
    let fourth = RunOutput::new("app", Some(previous));
    let three_lines = traceback
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .nth(2)
        .unwrap()
        .0;
    log.pump(&traceback[..=three_lines], Some(&fourth)).await;
    let before = read_tail(&path, None).unwrap().len();
    log.release(&fourth);
    assert!(read_tail(&path, None).unwrap().len() > before);
    assert_eq!(fourth.lines().len(), 3);
}

#[tokio::test]
async fn pump_splits_output_into_bounded_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = InstanceLog::new(dir.path().join("i.log"), 1 << 22);
    let mut input = b"a\nb\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
    log.pump(&input[..], None).await;
    let text = read_tail(&dir.path().join("i.log"), None).unwrap();
    let all = lines(&text);
    assert_eq!(all.len(), 4);
    assert_eq!(&all[..2], ["a", "b"]);
    assert_eq!(all[2].len(), MAX_LINE);
    assert_eq!(all[3], "x".repeat(10));
}
