"""`mtl bench`: does a pool built in other domains make this model better here?"""
