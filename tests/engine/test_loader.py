from pathlib import Path

from flowengine.loader import Document, load_yaml


def load(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> Document:
    return load_yaml(tmp_path / "f.yaml", text=text, environ=environ or {})


def test_positions_are_one_based_line_and_column(tmp_path: Path) -> None:
    document = load("version: 1\nnodes:\n  - id: a\n    type: log\n", tmp_path)
    assert document.issues == []
    assert document.positions[("nodes", 0, "type")].line == 4
    assert document.positions[("nodes", 0, "type")].column == 11
    assert document.key_positions[("nodes", 0, "type")].column == 5


def test_env_substitution_keeps_yaml_types_for_whole_scalars(tmp_path: Path) -> None:
    document = load("a: ${Q:-1}\nb: ${FLAG}\nc: 'x-${NAME}'\nd: '${Q:-1}'\n", tmp_path,
                    {"FLAG": "true", "NAME": "door"})
    assert document.data == {"a": 1, "b": True, "c": "x-door", "d": "1"}


def test_missing_env_var_is_reported_with_position(tmp_path: Path) -> None:
    document = load("a: 1\nb: ${NOT_SET_ANYWHERE}\n", tmp_path)
    assert [(i.line, i.column, i.code) for i in document.issues] == [(2, 4, "missing-env")]
    assert "NOT_SET_ANYWHERE" in document.issues[0].message


def test_secret_is_read_from_secrets_yaml_beside_the_flow(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("broker_password: hunter2\n")
    document = load("password: !secret broker_password\n", tmp_path)
    assert document.data == {"password": "hunter2"}
    assert document.secrets == {"hunter2"}


def test_missing_secret_names_the_key_not_the_value(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("other: s3cret\n")
    document = load("password: !secret nope\n", tmp_path)
    assert len(document.issues) == 1
    assert "nope" in document.issues[0].message
    assert "s3cret" not in document.issues[0].message


def test_unsafe_tags_are_refused(tmp_path: Path) -> None:
    document = load("a: !!python/object/apply:os.system ['echo hi']\n", tmp_path)
    assert document.issues
    assert document.issues[0].code in {"yaml", "bad-tag"}


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    document = load("a: [1, 2\nb: 3\n", tmp_path)
    assert len(document.issues) == 1
    assert document.issues[0].code == "yaml"
    assert document.issues[0].line >= 2


def test_duplicate_keys_are_reported(tmp_path: Path) -> None:
    document = load("a: 1\na: 2\n", tmp_path)
    assert [i.code for i in document.issues] == ["duplicate-key"]
    assert document.issues[0].line == 2
