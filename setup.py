from setuptools import find_packages, setup

setup(
    name="a2p",
    version="0.1.0",
    description="Audio to photoreal embodiment: conversational face and body motion from speech (re-implementation)",
    python_requires=">=3.11",
    packages=find_packages(include=["avatar*", "data_loaders*", "diffusion*", "model*", "train*", "sample*",
                                    "visualize*", "demo*", "utils*"]),
    install_requires=[line.strip() for line in open("requirements.txt")
                      if line.strip() and not line.startswith("#") and not line.startswith("pytest")],
)
