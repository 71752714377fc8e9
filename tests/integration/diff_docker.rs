//! `strata diff` equals Docker's recorded `docker diff` (text) and
//! `GET /containers/{id}/changes` (API) for every container of every graphdriver
//! fixture. Docker lists changes in Go map order, which is random, so the
//! comparison is of sorted lists; strata's own order is checked separately.

use crate::support::*;

/// Undoes strata's lossless escaping (`\xNN`, `\\`) and then replaces invalid UTF-8
/// the way Go's JSON encoder does, which is how Docker's answers spell such names.
fn as_docker_prints(s: &str) -> String {
    let b = s.as_bytes();
    let mut raw = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'\\') {
            raw.push(b'\\');
            i += 2;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() {
            raw.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
            i += 4;
        } else {
            raw.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&raw).into_owned()
}

fn kind_letter(api: i64) -> &'static str {
    match api {
        0 => "C",
        1 => "A",
        2 => "D",
        other => panic!("unknown change kind {other}"),
    }
}

#[test]
fn diff_equals_docker_for_every_fixture_container() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        let root = data_root(fx);
        let ids = std::fs::read_to_string(answers(fx).join("container-ids.txt")).unwrap();
        let mut compared = 0;
        for id in ids.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let at = format!("{fx} container {id}");
            // JSON against the API answer.
            let api = read_json(&answers(fx).join("diff").join(format!("{id}.api.json")));
            let mut want: Vec<(String, &str)> = api
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| {
                            (
                                c["Path"].as_str().unwrap().to_owned(),
                                kind_letter(c["Kind"].as_i64().unwrap()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            want.sort();
            let ours = run_json(&root, &["diff", id]);
            let mut got: Vec<(String, &str)> = ours
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        as_docker_prints(c["path"].as_str().unwrap()),
                        match c["kind"].as_str().unwrap() {
                            "A" => "A",
                            "C" => "C",
                            "D" => "D",
                            k => panic!("{at}: kind {k}"),
                        },
                    )
                })
                .collect();
            got.sort();
            assert_eq!(got, want, "{at}: changes differ from the API answer");

            // Text against `docker diff`.
            let txt = std::fs::read(answers(fx).join("diff").join(format!("{id}.txt"))).unwrap();
            let mut want_lines: Vec<String> =
                String::from_utf8_lossy(&txt).lines().map(str::to_owned).collect();
            want_lines.sort();
            let (code, out, err) = run(&root, &["diff", id]);
            assert_eq!(code, 0, "{at}: {err}");
            let mut got_lines: Vec<String> = out.lines().map(as_docker_prints).collect();
            got_lines.sort();
            assert_eq!(got_lines, want_lines, "{at}: text differs from `docker diff`");
            compared += 1;
        }
        assert!(compared >= 2, "{fx}: only {compared} containers compared");
    }
}

#[test]
fn diff_lists_parents_before_children_and_accepts_names() {
    require_root!();
    let root = data_root("basic");
    let (code, out, err) = run(&root, &["diff", "changer"]);
    assert_eq!(code, 0, "{err}");
    let paths: Vec<&str> = out.lines().map(|l| &l[2..]).collect();
    let mut sorted = paths.clone();
    sorted.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    assert_eq!(paths, sorted);
    assert!(
        out.contains("A /opt/app/ctr\\xffbad\n"),
        "non-UTF-8 names are escaped, not mangled: {out}"
    );
}

#[test]
fn diff_refuses_images_and_unknown_names() {
    require_root!();
    let root = data_root("basic");
    let (code, _, err) = run(&root, &["diff", "strata/app:1"]);
    assert_eq!(code, 2, "{err}");
}
