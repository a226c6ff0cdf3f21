"""People, custodian designations, tenure and departures.

Importing the package registers its kinds of proposal (designation, hire dates, roles,
leaving dates) with :mod:`vault.proposals`, whichever of its modules is asked for.
"""

from vault.people import departures, designations, directory

__all__ = ["departures", "designations", "directory"]
