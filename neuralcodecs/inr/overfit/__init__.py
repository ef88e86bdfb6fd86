"""The overfitted image codec (Cool-chic 3 / C3 style): a latent pyramid, a learned upsampling, a
small synthesis and an auto-regressive probability model, fitted to each image."""
