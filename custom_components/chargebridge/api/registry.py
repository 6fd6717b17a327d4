"""The four providers by name: adding a fifth is one module and one line here."""

from .base import Provider
from .chargeye import ChargEyeClient
from .evenergy import EvEnergyClient
from .hiven import HivenClient
from .jedlix import JedlixClient
from .models import ProviderName

PROVIDERS: dict[ProviderName, type[Provider]] = {
    ProviderName.HIVEN: HivenClient,
    ProviderName.CHARGEYE: ChargEyeClient,
    ProviderName.JEDLIX: JedlixClient,
    ProviderName.EVENERGY: EvEnergyClient,
}
