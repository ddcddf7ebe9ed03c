"""The virtual lab: a simulated wallbox and simulated instrument hardware in one discrete-event world.

The simulated wallbox is an independent implementation of the product.  Nothing here may
import `conformance/`: the suite's limits and this firmware's behaviour must be able to disagree.
"""
