"""The upload page's server side: tus 1.0 resumable uploads that end as items of channel upload."""
