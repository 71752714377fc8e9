//! `schema/*.schema.json` are generated from the view types (`strata::report::schema`):
//! this fails when a committed schema differs from the generated one.
//! `STRATA_UPDATE_SCHEMAS=1 cargo test --test integration schemas` rewrites them.

use crate::support::repo;

#[test]
fn committed_schemas_are_generated_from_the_types() {
    let update = std::env::var_os("STRATA_UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, schema) in strata::report::schema::all() {
        let path = repo().join("schema").join(format!("{name}.schema.json"));
        let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if update {
            std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "these schemas differ from the ones generated from the types:\n{}\n\
         regenerate them with `STRATA_UPDATE_SCHEMAS=1 cargo test --test integration schemas` \
         and review the diff (`git diff schema/`)",
        stale.join("\n")
    );
}
