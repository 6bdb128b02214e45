"""MKL_DEBUG_CPU_TYPE is set only for a non-Intel x86 CPU with AVX2 and FMA, and never over the user's value."""
from ppgan.utils.cpu import MKL_CPU_TYPE, configure_math_library, mkl_cpu_type_setting


def cpuinfo(vendor, flags, processors=2):
    """A /proc/cpuinfo text with `processors` identical blocks."""
    block = ("processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: 25\nmodel name\t: a CPU\n"
             "flags\t\t: {flags}\nbogomips\t: 4900.00\n\n")
    return "".join(block.format(i=i, vendor=vendor, flags=flags) for i in range(processors))


AVX2_FLAGS = "fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2 avx512f"
AMD_AVX2 = cpuinfo("AuthenticAMD", AVX2_FLAGS)


def test_amd_with_avx2_and_fma_gets_the_avx2_path():
    assert mkl_cpu_type_setting(AMD_AVX2, {}) == "5"


def test_other_non_intel_x86_vendors_with_avx2_too():
    assert mkl_cpu_type_setting(cpuinfo("HygonGenuine", AVX2_FLAGS), {"PATH": "/bin"}) == "5"


def test_intel_is_left_alone():
    assert mkl_cpu_type_setting(cpuinfo("GenuineIntel", AVX2_FLAGS), {}) is None


def test_amd_without_avx2_or_fma_is_left_alone():
    assert mkl_cpu_type_setting(cpuinfo("AuthenticAMD", "fpu sse sse2 ssse3 fma avx"), {}) is None
    assert mkl_cpu_type_setting(cpuinfo("AuthenticAMD", "fpu sse sse2 avx avx2"), {}) is None


def test_the_users_setting_is_kept_even_empty():
    assert mkl_cpu_type_setting(AMD_AVX2, {MKL_CPU_TYPE: "4"}) is None
    assert mkl_cpu_type_setting(AMD_AVX2, {MKL_CPU_TYPE: ""}) is None


def test_no_cpuinfo_or_no_x86_vendor_sets_nothing():
    assert mkl_cpu_type_setting("", {}) is None
    assert mkl_cpu_type_setting(None, {}) is None
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes\nCPU implementer\t: 0x41\n"
    assert mkl_cpu_type_setting(arm, {}) is None


def test_only_the_first_processor_block_is_read():
    text = cpuinfo("AuthenticAMD", AVX2_FLAGS, 1) + cpuinfo("GenuineIntel", "fpu", 1)
    assert mkl_cpu_type_setting(text, {}) == "5"


def test_configure_writes_the_given_environment_only_when_needed(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(AMD_AVX2)
    environ = {}
    assert configure_math_library(environ, str(path)) == "5"
    assert environ == {MKL_CPU_TYPE: "5"}
    mine = {MKL_CPU_TYPE: "2"}
    assert configure_math_library(mine, str(path)) is None and mine == {MKL_CPU_TYPE: "2"}
    missing = {}
    assert configure_math_library(missing, str(tmp_path / "absent")) is None and missing == {}


PROGRAMS = ("tools/main.py", "tools/train.py", "tools/inference.py", "applications/tools/first-order-demo.py")


def test_the_computing_programs_pick_the_math_path_before_running(monkeypatch):
    import os

    import pytest

    from ppgan.utils import cli

    calls = []
    monkeypatch.setattr(cli, "configure_math_library", lambda: calls.append("math"))
    with pytest.raises(SystemExit) as exit_info:
        cli.run_program(lambda argv: calls.append("main"))
    assert exit_info.value.code == 0 and calls == ["math", "main"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for program in PROGRAMS:
        with open(os.path.join(root, program), encoding="utf-8") as f:
            text = f.read()
        assert 'if __name__ == "__main__":\n    run_program(main)\n' in text, program
