//! `strata containers` sizes equal Docker's `SizeRw` and `SizeRootFs` from
//! `docker container inspect --size` for every container of every fixture.

use crate::support::*;

#[test]
fn rw_and_rootfs_sizes_equal_docker() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        let root = data_root(fx);
        let docker = read_json(&answers(fx).join("container-inspect.json"));
        let ours = run_json(&root, &["containers"]);
        let ours = ours.as_array().unwrap();
        let docker = docker.as_array().unwrap();
        assert_eq!(ours.len(), docker.len(), "{fx}: number of containers");
        for d in docker {
            let id = d["Id"].as_str().unwrap();
            let o = ours
                .iter()
                .find(|o| o["id"] == id)
                .unwrap_or_else(|| panic!("{fx}: {id} not listed"));
            assert_eq!(o["rw_size"], d["SizeRw"], "{fx} {id}: SizeRw");
            assert_eq!(o["rootfs_size"], d["SizeRootFs"], "{fx} {id}: SizeRootFs");
        }
    }
}

/// `audit` and `inspect` carry the same sizes as `strata containers`: Docker's
/// `SizeRw` and `SizeRootFs`, not null.
#[test]
fn audit_and_inspect_sizes_equal_docker() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        let root = data_root(fx);
        let docker = read_json(&answers(fx).join("container-inspect.json"));
        let (_, report) = crate::support::audit::audit(&root, &["--metadata-only"]);
        let listed = report["containers"].as_array().unwrap();
        for d in docker.as_array().unwrap() {
            let id = d["Id"].as_str().unwrap();
            let a = listed
                .iter()
                .find(|o| o["id"] == id)
                .unwrap_or_else(|| panic!("{fx}: {id} not in the audit"));
            assert_eq!(a["rw_size"], d["SizeRw"], "{fx} {id}: audit SizeRw");
            assert_eq!(a["rootfs_size"], d["SizeRootFs"], "{fx} {id}: audit SizeRootFs");
            let i = run_json(&root, &["inspect", id]);
            assert_eq!(i["rw_size"], d["SizeRw"], "{fx} {id}: inspect SizeRw");
            assert_eq!(i["rootfs_size"], d["SizeRootFs"], "{fx} {id}: inspect SizeRootFs");
        }
    }
}
