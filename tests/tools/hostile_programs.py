"""The hostile programs of issue 13, each with the error class the sandbox must report. Used by
tests/tools/test_sandbox.py (every row is a test) and by bench/tools.py (the table with timings)."""

from __future__ import annotations

from pathlib import Path

HOME_FILE = Path.home() / "physlora-sandbox-was-here.txt"

# (case, program, expected status; "a|b": either, as for the infinite loop, which meets the CPU limit on an idle
# machine and the wall-clock limit first on one where other processes take most of the CPU)
HOSTILE = [
    ("infinite loop", "x = 0\nwhile True:\n    x += 1\n", "cpu_limit|timeout"),
    ("fork bomb", "import os\nwhile True:\n    os.fork()\n", "forbidden_import"),
    ("10 GB allocation", "block = bytearray(10 * 1024**3)\nprint(len(block))\n", "memory_limit"),
    ("10 GB numpy array", "import numpy as np\na = np.ones(10 * 1024**3 // 8)\nprint(a.sum())\n", "memory_limit"),
    ("os.system", "import os\nos.system('touch /tmp/physlora-pwned')\n", "forbidden_import"),
    ("subprocess", "import subprocess\nsubprocess.run(['id'])\n", "forbidden_import"),
    ("open('/etc/passwd')", "print(open('/etc/passwd').read())\n", "forbidden_operation"),
    ("numpy reads /etc/passwd", "import numpy as np\nprint(np.loadtxt('/etc/passwd', dtype=str, delimiter='\\n'))\n",
     "forbidden_operation"),
    ("write to the home folder", f"import numpy as np\nnp.savetxt({str(HOME_FILE)!r}, [1.0])\nprint('written')\n",
     "forbidden_operation"),
    ("socket connect", "import socket\ns = socket.create_connection(('127.0.0.1', 22))\nprint(s)\n", "forbidden_import"),
    ("__import__('os')", "__import__('os').system('id')\n", "forbidden_code"),
    ("dunder walk to os", "print([c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'])\n",
     "forbidden_code"),
    ("getattr with a built name", "cls = getattr((), '__cla' + 'ss__')\nprint(cls)\n", "forbidden_operation"),
    ("str.format attribute walk", "print('{0.__class__.__base__}'.format(1))\n", "forbidden_operation"),
    ("module reached as attribute", "import numpy as np\nprint(np.ctypeslib)\n", "forbidden_operation"),
    ("sympify evaluating code", "import sympy\nprint(sympy.sympify(\"__import__('os').system('id')\"))\n",
     "forbidden_operation"),
    ("catching the refusal", "try:\n    open('/etc/passwd')\nexcept BaseException:\n    pass\nprint('still here')\n",
     "forbidden_operation"),
    ("recursion bomb", "def f(n):\n    return f(n + 1)\nprint(f(0))\n", "recursion_limit"),
    ("printing 100 MB", "print('x' * 100_000_000)\n", "output_limit"),
    ("printing forever", "i = 0\nwhile True:\n    print(i)\n    i += 1\n", "output_limit"),
    ("syntax error", "print(6.67e-11 * 5.97e24\n", "syntax_error"),
    ("prints nothing", "g = 6.67e-11 * 5.97e24 / 6.37e6**2\n", "no_output"),
    ("exception", "print(1 / 0)\n", "runtime_error"),
]

# The OS layer alone (Python guards off): what stops a program that got past RestrictedPython and the hook.
# (case, program, expected status, a layer that must be active for the expectation to hold)
OS_LAYER = [
    ("fork", "import os\nprint(os.fork())\n", "forbidden_operation", "seccomp"),
    ("subprocess", "import subprocess\nprint(subprocess.run(['/bin/true']))\n", "forbidden_operation", "seccomp"),
    ("socket", "import socket\nprint(socket.socket())\n", "forbidden_operation", "seccomp"),
    ("read /etc/passwd", "print(open('/etc/passwd').read()[:40])\n", "forbidden_operation", "landlock"),
    ("write to the home folder", f"open({str(HOME_FILE)!r}, 'w').write('x')\nprint('written')\n",
     "forbidden_operation", "seccomp"),
    ("write to /tmp", "open('/tmp/physlora-sandbox-was-here', 'w').write('x')\nprint('written')\n",
     "forbidden_operation", "seccomp"),
    ("signal the parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('sent')\n",
     "forbidden_operation", "seccomp"),
    ("OS entropy", "import os\nprint(os.urandom(8))\n", "runtime_error", "seccomp"),
    ("10 GB allocation", "block = bytearray(10 * 1024**3)\nprint(len(block))\n", "memory_limit", "rlimits"),
    ("segfault", "import ctypes\nprint(ctypes.string_at(0))\n", "crashed", "rlimits"),
]
