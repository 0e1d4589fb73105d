from __future__ import annotations

from typing import Any, ClassVar

import pytest

from launcher.errors import ConfigError
from launcher.spec.model import Spec
from launcher.spec.record import (
    BOOL,
    INT,
    INTS,
    RAW,
    STR,
    STRMAP,
    STRS,
    ListOf,
    MapOf,
    Record,
    clone,
    snake_case,
)


class Leaf(Record):
    __slots__ = ("class_", "host_id", "name")
    FIELDS = (("name", STR), ("hostID", INT), ("class", STR))
    RENAMES: ClassVar[dict[str, str]] = {"class": "class_"}
    name: str | None
    host_id: int | None
    class_: str | None


class Tree(Record):
    __slots__ = ("by_name", "flag", "leaf", "leaves", "nums", "raw", "tags", "words")
    FIELDS = (("flag", BOOL), ("words", STRS), ("nums", INTS), ("tags", STRMAP), ("leaf", Leaf),
              ("leaves", ListOf(Leaf)), ("byName", MapOf(Leaf)), ("raw", RAW))  # fmt: skip
    flag: bool | None
    words: list[str] | None
    nums: list[int] | None
    tags: dict[str, str] | None
    leaf: Leaf | None
    leaves: list[Leaf] | None
    by_name: dict[str, Leaf] | None
    raw: Any


FULL = {
    "flag": False,
    "words": ["a", "b"],
    "nums": [0, -1, 2**64 - 1],
    "tags": {"k": "v"},
    "leaf": {"name": "x", "hostID": 1, "class": "c"},
    "leaves": [{"name": "y"}, {}],
    "byName": {"z": {"hostID": 0}},
    "raw": {"anything": [1, 2.5, None, {"deep": True}]},
}


@pytest.mark.parametrize(
    ("key", "attr"),
    [
        ("ociVersion", "oci_version"),
        ("uidMappings", "uid_mappings"),
        ("cgroupsPath", "cgroups_path"),
        ("containerID", "container_id"),
        ("hostID", "host_id"),
        ("disableOOMKiller", "disable_oom_killer"),
        ("closID", "clos_id"),
        ("throttleReadIOPSDevice", "throttle_read_iops_device"),
        ("kernelTCP", "kernel_tcp"),
        ("execCPUAffinity", "exec_cpu_affinity"),
        ("l3CacheSchema", "l3_cache_schema"),
        ("path", "path"),
    ],
)
def test_snake_case(key: str, attr: str) -> None:
    assert snake_case(key) == attr


def test_round_trip_is_exact_and_keeps_order() -> None:
    tree = Tree.from_json(FULL)
    out = tree.to_json()
    assert out == FULL
    assert list(out) == list(FULL)
    assert type(out["nums"][2]) is int


def test_absent_stays_absent_and_empty_stays_empty() -> None:
    obj: dict[str, Any] = {"words": [], "tags": {}, "leaves": [], "leaf": {}}
    tree = Tree.from_json(obj)
    assert tree.flag is None and tree.nums is None
    assert tree.words == [] and tree.tags == {} and tree.leaves == []
    assert tree.to_json() == obj


def test_null_reads_as_absent() -> None:
    tree = Tree.from_json({"flag": None, "leaf": None})
    assert tree.flag is None and tree.leaf is None
    assert tree.to_json() == {}


def test_unknown_keys_survive_after_known_ones() -> None:
    obj = {"zz": 1, "flag": True, "leaf": {"name": "n", "future": {"x": [1]}}, "aa": [None]}
    tree = Tree.from_json(obj)
    assert tree.extra == {"zz": 1, "aa": [None]}
    assert tree.leaf is not None and tree.leaf.extra == {"future": {"x": [1]}}
    out = tree.to_json()
    assert out == obj
    assert list(out) == ["flag", "leaf", "zz", "aa"]


def test_output_does_not_alias_the_input_or_the_record() -> None:
    obj: dict[str, Any] = {"words": ["a"], "raw": {"x": [1]}, "other": {"y": [2]}}
    tree = Tree.from_json(obj)
    obj["words"].append("b")
    obj["raw"]["x"].append(3)
    obj["other"]["y"].append(4)
    out = tree.to_json()
    assert out == {"words": ["a"], "raw": {"x": [1]}, "other": {"y": [2]}}
    out["words"].append("c")
    assert tree.words == ["a"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "(top level): expected an object"),
        ({"flag": 1}, "flag: expected a boolean"),
        ({"flag": "true"}, "flag: expected a boolean"),
        ({"nums": [1, True]}, "nums[1]: expected an integer"),
        ({"nums": [1.0]}, "nums[0]: expected an integer"),
        ({"words": "a"}, "words: expected a list of strings"),
        ({"words": ["a", 2]}, "words[1]: expected a string"),
        ({"tags": {"k": 1}}, "tags.k: expected a string"),
        ({"tags": []}, "tags: expected an object of strings"),
        ({"leaf": []}, "leaf: expected an object"),
        ({"leaf": {"hostID": "1"}}, "leaf.hostID: expected an integer"),
        ({"leaves": {}}, "leaves: expected a list"),
        ({"leaves": [{}, {}, {"name": 3}]}, "leaves[2].name: expected a string"),
        ({"byName": []}, "byName: expected an object"),
        ({"byName": {"a": {"class": False}}}, "byName.a.class: expected a string"),
    ],
)
def test_wrong_types_name_the_json_path(obj: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Tree.from_json(obj)
    assert info.value.problems == [message]


def test_where_prefixes_the_path() -> None:
    with pytest.raises(ConfigError, match=r"linux\.leaf\.name: expected a string"):
        Tree.from_json({"leaf": {"name": 1}}, where="linux")


def test_constructor_equality_and_repr() -> None:
    leaf = Leaf(name="a", host_id=3)
    assert leaf.class_ is None and leaf.extra is None
    assert leaf == Leaf.from_json({"name": "a", "hostID": 3})
    assert leaf != Leaf(name="a")
    assert leaf != "a"
    assert Leaf(extra={}) == Leaf()
    assert repr(leaf) == "Leaf(name='a', host_id=3)"
    assert repr(Leaf(extra={"k": 1})) == "Leaf(extra={'k': 1})"
    with pytest.raises(TypeError, match="no field 'hostID'"):
        Leaf(hostID=3)
    with pytest.raises(TypeError):
        hash(leaf)


def test_copy_is_deep() -> None:
    tree = Tree.from_json(FULL)
    other = tree.copy()
    assert other == tree
    assert other.leaves is not None and tree.leaves is not None
    other.leaves[0].name = "changed"
    assert tree.leaves[0].name == "y"


def test_slots_must_match_the_fields() -> None:
    with pytest.raises(TypeError, match="__slots__ must hold"):

        class Bad(Record):
            __slots__ = ("oci_versions",)
            FIELDS = (("ociVersion", STR),)


def test_clone_copies_containers_only() -> None:
    value = {"a": [1, {"b": "c"}]}
    copied = clone(value)
    assert copied == value and copied is not value and copied["a"] is not value["a"]


def test_deeply_nested_json_is_a_config_error() -> None:
    """Found by fuzzing: an unknown key nested ~1000 deep raised RecursionError."""
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ConfigError, match=r"process\.x: expected JSON nested less deeply"):
        Spec.from_json({"process": {"x": deep}})
    with pytest.raises(ConfigError, match=r"solaris: expected JSON nested less deeply"):
        Spec.from_json({"solaris": deep})
    with pytest.raises(ConfigError, match=r"mounts\[1\]\.x: expected JSON nested less deeply"):
        Spec.from_json({"mounts": [{}, {"x": deep}]})
