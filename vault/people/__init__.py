"""People, custodian designations, tenure and departures."""
