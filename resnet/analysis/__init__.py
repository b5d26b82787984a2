"""Analyses of a trained plain/residual pair: attributions, lesions, loss landscapes, shattered gradients."""
