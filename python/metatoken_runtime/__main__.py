"""`python3 -m metatoken_runtime [HANDLER]`: the runtime, for a debugger."""

import sys

from metatoken_runtime.bootstrap import main

sys.exit(main())
