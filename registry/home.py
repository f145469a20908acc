"""Where zoo keeps its files: ZOO_HOME, or the platform's data folder for zoo.

Apart from registry.settings (which reads every other variable) so that `zoo run` can find it
before anything heavy loads (registry/warm_start.py); settings takes it from here.
"""

from __future__ import annotations

import os


def zoo_home() -> str:
    home = os.environ.get("ZOO_HOME")
    if home:
        return os.path.expanduser(home)
    # platformdirs is imported only here, so a ZOO_HOME set by the user costs nothing.
    from platformdirs import user_data_dir

    return user_data_dir("zoo", appauthor=False)
