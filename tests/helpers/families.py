"""A minimal user family (family.py) for tests that install one in a data home."""

USER_FAMILY_PY = """
import torch
from torch import nn
from engine.families.base import FamilyBase

class Family(FamilyBase):
    def create_model(self, params):
        return nn.Linear(2, 2)

    def generate_training_dataset(self, params, training_fraction, data_seed):
        g = torch.Generator().manual_seed(data_seed)
        x = torch.randn(40, 2, generator=g)
        y = (x[:, 0] > 0).long()
        return x[:30], y[:30], x[30:], y[30:]
"""
