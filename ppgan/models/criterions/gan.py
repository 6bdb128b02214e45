"""LSGAN adversarial losses and discriminator feature matching (paper, appendix; pix2pixHD)."""
import paddle


def lsgan_generator_loss(generated_maps, scales, weight):
    """sum_s w mean((1 - D_s(G))^2) over the discriminator's scales."""
    total = 0.0
    for scale in scales:
        total = total + weight * ((1 - generated_maps["prediction_map_%s" % scale]) ** 2).mean()
    return total


def lsgan_discriminator_loss(real_maps, generated_maps, scales, weight):
    """sum_s w mean((1 - D_s(x))^2 + D_s(G)^2)."""
    total = 0.0
    for scale in scales:
        key = "prediction_map_%s" % scale
        total = total + weight * ((1 - real_maps[key]) ** 2 + generated_maps[key] ** 2).mean()
    return total


def feature_matching_loss(real_maps, generated_maps, scales, weights):
    """sum_s sum_i w_i mean|F_i(x) - F_i(G)| over the discriminator's block outputs (zero weights skipped)."""
    total = 0.0
    for scale in scales:
        key = "feature_maps_%s" % scale
        for weight, real, fake in zip(weights, real_maps[key], generated_maps[key]):
            if weight == 0:
                continue
            total = total + weight * paddle.abs(real - fake).mean()
    return total
