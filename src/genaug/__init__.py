"""genaug: does a generative model's synthetic data make a low-data classifier better?"""

__version__ = "0.1.0"
