"""Carbon: grid intensity data and sources, energy + carbon accounting, placement.

`grid` holds the hourly carbon table and inter-region latencies (real data
when `$TESSERA_DATA` has it, derived defaults otherwise), `sources` the
carbon-intensity Protocol with table/CSV sources and the cache and fallback
wrappers, `providers` the live HTTP clients (Electricity Maps, WattTime,
Carbon Aware SDK), `accounting` the operational + embodied carbon of an
invocation, job or FL round. Import the submodule you need; this package
imports nothing on purpose.
"""
