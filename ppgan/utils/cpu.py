"""The CPU math library's code path, chosen before Paddle's bundled Intel MKL makes its first call.

Paddle's CPU wheels bundle an Intel MKL (libmklml_intel.so) whose dispatcher checks the CPU's *vendor*, not
its instruction sets: on an AMD processor it takes a slow generic code path although the CPU has AVX2 and FMA.
That MKL still honours ``MKL_DEBUG_CPU_TYPE``, and ``5`` selects its AVX2 kernels. Measured on a 2-core
AMD EPYC (AVX2, FMA and AVX-512), Paddle 3.3.1, while other jobs loaded the machine (load 3-5):

* ``paddle.matmul`` of 1024x1024 float32 matrices: 30 -> 83 GFLOPS on 1 thread (17 -> 52 and, on 2 threads,
  23 -> 70 under more load);
* a 3x3 convolution forward + backward (8x64x32x32 -> 64 channels): 71 -> 51 ms, 120 -> 52 ms under more load
  (Paddle's dygraph conv2d is an im2col + MKL matrix product; oneDNN is not used there);
* a training iteration (benchmarks/train_step.py, 1 thread, median of 3 runs): FOMM 2.77 -> 1.86 s
  (configs/firstorder_synthetic_wide_64.yaml, batch 8), TPSMM 2.37 -> 1.75 s (configs/tpsmm_synthetic_wide_64.yaml,
  batch 8); with the perceptual loss (VGG19, batch 4) FOMM 2.79 -> 1.48 s, TPSMM 2.97 -> 1.39 s.

The results change by float rounding only (another order of the same sums). So ``import ppgan`` does not
apply it: the programs call :func:`configure_math_library` before their first MKL call (tools/main.py,
tools/train.py, tools/inference.py and the demo through ppgan.utils.cli.run_program; benchmarks/train_step.py);
importing Paddle makes none, its first matrix product does, and MKL reads the variable then. Library use and
the test suite (which calls the programs' `main` in-process) keep MKL's default path, on which the parity
fixtures' bounds were measured: on the AVX2 path tests/test_train_parity_tpsmm.py's `train_dropout` prediction
lands 1.34e-4 from the PyTorch recording, over its 1e-4 bound (7.7e-5 on the default path), although it is
about as far from our float64 result (5.8e-5; the default path's: 4.4e-5) and nearer than the recording
itself (9.8e-5). Exporting ``MKL_DEBUG_CPU_TYPE=5`` does the same for any run.

Nothing is set on an Intel CPU (MKL picks its fastest path there), on a CPU without AVX2 or FMA (value 5
would run instructions it lacks), without ``/proc/cpuinfo`` (not Linux), or when the environment already has
``MKL_DEBUG_CPU_TYPE`` (the user's value is kept; an empty one keeps MKL's default path).
"""
import os

MKL_CPU_TYPE = "MKL_DEBUG_CPU_TYPE"
MKL_AVX2 = "5"          # MKL_DEBUG_CPU_TYPE's value for the AVX2 kernels
INTEL_VENDOR = "GenuineIntel"
CPUINFO = "/proc/cpuinfo"


def _first_processor(cpuinfo_text):
    """(vendor_id or None, set of flags) of the first processor listed in a /proc/cpuinfo text."""
    vendor, flags = None, set()
    for line in cpuinfo_text.splitlines():
        if not line.strip():
            if vendor is not None or flags:
                break  # the end of the first processor's block
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id":
            vendor = value.strip()
        elif key == "flags":
            flags = set(value.split())
    return vendor, flags


def mkl_cpu_type_setting(cpuinfo_text, environ):
    """The value MKL_DEBUG_CPU_TYPE should be given, or None to leave the environment alone.

    cpuinfo_text: the text of /proc/cpuinfo ('' or None where there is none); environ: the environment
    (a mapping). '5' (MKL's AVX2 path) for an x86 CPU of another vendor than Intel whose flags include avx2 and
    fma, unless `environ` already has MKL_DEBUG_CPU_TYPE (set to anything, even empty).
    """
    if MKL_CPU_TYPE in environ or not cpuinfo_text:
        return None
    vendor, flags = _first_processor(cpuinfo_text)
    if vendor is None or vendor == INTEL_VENDOR:  # no vendor_id: not an x86 CPU (MKL does not run there)
        return None
    if not {"avx2", "fma"} <= flags:
        return None
    return MKL_AVX2


def read_cpuinfo(path=CPUINFO):
    """The text of /proc/cpuinfo, or '' where it cannot be read (not Linux)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def configure_math_library(environ=None, cpuinfo_path=CPUINFO):
    """Set MKL_DEBUG_CPU_TYPE in `environ` (default os.environ) when :func:`mkl_cpu_type_setting` says so;
    returns the value set, or None. Effective only before the process's first MKL call."""
    environ = os.environ if environ is None else environ
    value = mkl_cpu_type_setting(read_cpuinfo(cpuinfo_path), environ)
    if value is not None:
        environ[MKL_CPU_TYPE] = value
    return value
