import sys

from physlora.cli import main

sys.exit(main())
