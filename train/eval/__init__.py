"""Evaluation of generated videos: scene-count accuracy, per-scene adherence, quality (docs/results.md).

    train.eval.prompts     prompt sets (1-6 scenes, held-out phrasings) as JSONL
    train.eval.classifier  the attribute judge: a small CNN trained on rendered scenes
    train.eval.metrics     confidence intervals, Frechet distance, sharpness
    train.eval.run         drives `tav generate` and `tav scenes` over a prompt set
    train.eval.report      docs/results.md's table from run directories
"""
