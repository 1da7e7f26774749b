package dev.keel.model;

import java.util.LinkedHashMap;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.model.io.DType;
import dev.keel.model.io.ModelConfig;
import dev.keel.tensor.Tensors;

/**
 * Fresh weights for training from scratch, as transformers' {@code _init_weights} sets them: matrices and
 * embeddings N(0, initializer_range), biases zero, norm weights one; GPT-2 also scales each residual output
 * projection by 1/sqrt(2 n_layer) (Radford et al. 2019, Sec. 2.3).
 */
public final class ModelInit {
    private ModelInit() {}

    public static CausalLM random(ModelConfig config, long seed, DType dtype) {
        torch.manual_seed(seed);
        double std = config.raw().path("initializer_range").asDouble(0.02);
        Map<String, Tensor> w = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : CausalLM.expectedShapes(config).entrySet()) {
            String name = e.getKey();
            long[] shape = e.getValue();
            Tensor t;
            if (name.endsWith(".bias")) {
                t = torch.zeros(shape);
            } else if (shape.length == 1) {
                t = torch.ones(shape);
            } else {
                double s = std;
                if (config.family() == ModelConfig.Family.GPT2 && name.endsWith("c_proj.weight")) {
                    s = std / Math.sqrt(2.0 * config.numLayers());
                }
                t = torch.randn(shape).mul(Tensors.s(s));
            }
            w.put(name, t.to(dtype == null ? ScalarType.Float : dtype.scalarType()));
        }
        return CausalLM.create(config, w);
    }
}
