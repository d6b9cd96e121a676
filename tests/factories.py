"""Every model's factory, named `<Model>Factory`, from one import point.

The factories live beside each other by app; cross-app SubFactories refer to this module by string
("tests.factories.ClientFactory") so the graph stays consistent without import cycles.
"""

from tests.factories_accounts import *  # noqa: F403
from tests.factories_calls import *  # noqa: F403
from tests.factories_campaigns import *  # noqa: F403
from tests.factories_crm import *  # noqa: F403
from tests.factories_giftcards import *  # noqa: F403
from tests.factories_recipients import *  # noqa: F403
