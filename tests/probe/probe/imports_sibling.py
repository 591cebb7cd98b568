"""Import helperlib, a top-level module beside the package that is not in requirements.

From the source tree it is found through the working directory; installed, it is missing.
"""

from __future__ import annotations

import helperlib

if __name__ == "__main__":
    print("helper says", helperlib.ANSWER)
