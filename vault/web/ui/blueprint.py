"""The pages' blueprint object."""

from flask import Blueprint

bp = Blueprint("ui", __name__)
