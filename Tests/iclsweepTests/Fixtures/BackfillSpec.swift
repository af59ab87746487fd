/// A spec in which a gang waits for a long run while short runs can fill
/// the free worker and a longer one cannot (2 workers or 2 cores): the
/// coordinator's test (GangTests) and the cluster model's (ClusterModelTests).
/// `first` goes out first (`after` starts from its end), `gang` (2 ranks)
/// next, then `long`, which would end after `first`, then the 8 short runs.
enum BackfillSpec {
    static let text = """
    name: backfill
    results: backfill.h5
    data:
      synthetic: {classes: 16, exemplars: 4, dim: 16, noise: 0.2, seed: 3}
    training: {sequences: 2400, batch: 24, learning_rate: 1.0e-3, eval_interval: 2400}
    evaluation: {sequences: 200, seed: 5}
    grid: {classes: [16], exemplars: [4], variants: [bursty], seeds: [0, 1, 2, 3, 4, 5, 6, 7]}
    runs:
      first: {variant: bursty, seeds: [10], training.sequences: 120_000, training.eval_interval: 120_000}
      after: {variant: bursty, seeds: [11], init: {from: first, at: 120_000}, training.sequences: 96_000, training.eval_interval: 96_000}
      gang: {variant: bursty, seeds: [12], training.sequences: 254_400, training.eval_interval: 254_400, training.shards: 2, training.ranks: 2}
      long: {variant: bursty, seeds: [13], training.sequences: 124_800, training.eval_interval: 124_800}
    """
}
