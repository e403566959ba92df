/**
 * PCA reconstruction-error hyperparameters. Pure zod (no tfjs), so specs and the CLI can validate
 * a study without loading a compute backend. Every field affects the fit; none is score-only.
 */
import { z } from 'zod';

export const pcaParams = z
  .object({
    /** Principal directions kept (the primary parameter); must be below min(n, dim). */
    components: z.number().int().min(1).max(4096).default(32),
    /**
     * Optional: keep only the fewest of those `components` leading directions whose eigenvalues
     * explain at least this fraction of the total variance. null keeps all `components`.
     */
    variance: z.number().gt(0).max(1).nullable().default(null),
    /** Extra vectors carried by the subspace iteration: more converges in fewer iterations. */
    oversample: z.number().int().min(0).max(1024).default(16),
    /**
     * Subspace iteration stops when every kept Ritz pair has ‖C·u − θ·u‖ ≤ tolerance · θ₁
     * (θ₁ the largest eigenvalue). The products are float32, so below ~1e-6 is unreachable.
     */
    tolerance: z.number().min(1e-6).max(0.1).default(1e-5),
    /** Upper bound on subspace iterations (it also stops once the residual stops improving). */
    maxIterations: z.number().int().min(1).max(100_000).default(1000),
  })
  .strict();

export type PcaParams = z.infer<typeof pcaParams>;
