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
