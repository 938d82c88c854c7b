"""cpp_extension.build/load: cache key, compiler errors, concurrent builders."""
import os
import threading

import pytest

import coarsenet as cn
from coarsenet import cpp_extension
from coarsenet.testing import expect_error

TINY = "extern \"C\" int tiny_answer() { return 42; }\n"


def test_key_follows_sources_and_flags(tmp_path):
    src = tmp_path / "tiny.cc"
    src.write_text(TINY)
    kw = dict(build_directory=str(tmp_path / "cache"), extra_cflags=["-O0"])
    first = cpp_extension.build("tiny", [str(src)], **kw)
    assert cpp_extension.build("tiny", [str(src)], **kw) == first
    assert cpp_extension.build("tiny", [str(src)], build_directory=kw["build_directory"],
                               extra_cflags=["-O1"]) != first
    src.write_text(TINY + "// changed\n")
    assert cpp_extension.build("tiny", [str(src)], **kw) != first


def test_default_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COARSENET_EXTENSIONS_DIR", str(tmp_path / "envcache"))
    assert cpp_extension.default_build_root() == str(tmp_path / "envcache")


def test_compiler_error_names_the_source_and_shows_the_output(tmp_path):
    src = tmp_path / "broken.cc"
    src.write_text("#include \"coarsenet/op.h\"\nint f() { return undeclared_thing; }\n")
    message = expect_error(
        lambda: cpp_extension.load("broken", [str(src)], build_directory=str(tmp_path),
                                   extra_cflags=["-O0"]),
        "broken", str(src), "undeclared_thing")
    assert "error" in message
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".so") or ".tmp" in f]


def test_missing_source_and_bad_name(tmp_path):
    expect_error(lambda: cpp_extension.build("x", [str(tmp_path / "none.cc")]), "none.cc",
                 "not found")
    expect_error(lambda: cpp_extension.build("bad name!", [str(tmp_path / "a.cc")]), "name")


def test_missing_compiler(tmp_path, monkeypatch):
    src = tmp_path / "tiny.cc"
    src.write_text(TINY)
    monkeypatch.setenv("CXX", "/no/such/compiler++")
    expect_error(lambda: cpp_extension.build("tiny", [str(src)], build_directory=str(tmp_path)),
                 "/no/such/compiler++")


def test_concurrent_builders_share_one_result(tmp_path):
    src = tmp_path / "tiny.cc"
    src.write_text(TINY)
    results, errors = [], []

    def build():
        try:
            results.append(cpp_extension.build("tiny", [str(src)], extra_cflags=["-O0"],
                                               build_directory=str(tmp_path / "cache")))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    leftovers = [f for f in os.listdir(tmp_path / "cache") if ".tmp" in f]
    assert leftovers == []


def test_sdk_locations():
    assert os.path.isfile(os.path.join(cn.get_include(), "coarsenet", "op.h"))
    assert os.path.isfile(os.path.join(cn.get_cmake_dir(), "coarsenetConfig.cmake"))


@pytest.mark.parametrize("ext", ["h", "hpp"])
def test_headers_in_sources_are_hashed_not_compiled(tmp_path, ext):
    header = tmp_path / f"helper.{ext}"
    header.write_text("inline int helper() { return 1; }\n")
    src = tmp_path / "uses.cc"
    src.write_text(f'#include "helper.{ext}"\nextern "C" int uses() {{ return helper(); }}\n')
    kw = dict(build_directory=str(tmp_path / "cache"), extra_cflags=["-O0", f"-I{tmp_path}"])
    first = cpp_extension.build("uses", [str(src), str(header)], **kw)
    header.write_text("inline int helper() { return 2; }\n")
    assert cpp_extension.build("uses", [str(src), str(header)], **kw) != first
