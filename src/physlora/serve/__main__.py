import sys

from physlora.serve.app import _cli

sys.exit(_cli())
